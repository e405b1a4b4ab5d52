package routing

import "testing"

// The worked values of kazoo-semantics.md §1.2.
func TestNumberConversions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, e164, npan, onenpan, stripPlus string
	}{
		{"e164 NANP", "+14158867900", "+14158867900", "4158867900", "14158867900", "14158867900"},
		{"1NPAN", "14158867900", "+14158867900", "4158867900", "14158867900", "14158867900"},
		{"NPAN", "4158867900", "+14158867900", "4158867900", "14158867900", "14158867900"},
		{"e164 UK", "+442071838750", "+442071838750", "+442071838750", "+442071838750", "442071838750"},
		{"011 international", "011442071838750", "+442071838750", "011442071838750", "011442071838750", "442071838750"},
		{"extension", "1001", "1001", "1001", "1001", "1001"},
		{"emergency", "911", "911", "911", "911", "911"},
		{"eight digits quirk", "23456789", "+23456789", "23456789", "23456789", "23456789"},
		{"00 international", "00442071838750", "+442071838750", "00442071838750", "00442071838750", "442071838750"},
		{"too short after 011", "0114420", "0114420", "0114420", "0114420", "0114420"},
		{"NXX starting 1 is not NANP", "4151867900", "+4151867900", "4151867900", "4151867900", "4151867900"},
		{"NPA starting 1 is not NANP", "1158867900", "1158867900", "1158867900", "1158867900", "1158867900"},
		{"+1 with 9 digits", "+1415886790", "+1415886790", "+1415886790", "+1415886790", "1415886790"},
		{"letters", "alice", "alice", "alice", "alice", "alice"},
		{"empty", "", "", "", "", ""},
		{"star code", "*97", "*97", "*97", "*97", "*97"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []struct {
				fn   string
				got  string
				want string
			}{
				{"ToE164", ToE164(tc.in), tc.e164},
				{"ToNPAN", ToNPAN(tc.in), tc.npan},
				{"To1NPAN", To1NPAN(tc.in), tc.onenpan},
				{"StripPlus", StripPlus(tc.in), tc.stripPlus},
				{"Convert(e164)", Convert(FormatE164, tc.in), tc.e164},
				{"Convert(npan)", Convert(FormatNPAN, tc.in), tc.npan},
				{"Convert(1npan)", Convert(Format1NPAN, tc.in), tc.onenpan},
				{"Convert(strip_plus)", Convert(FormatStripPlus, tc.in), tc.stripPlus},
				{"appendFormat(e164)", string(appendFormat(nil, FormatE164, tc.in)), tc.e164},
				{"appendFormat(npan)", string(appendFormat(nil, FormatNPAN, tc.in)), tc.npan},
				{"appendFormat(1npan)", string(appendFormat(nil, Format1NPAN, tc.in)), tc.onenpan},
				{"appendFormat(strip_plus)", string(appendFormat(nil, FormatStripPlus, tc.in)), tc.stripPlus},
				{"Convert(contact)", Convert(FormatContact, tc.in), tc.in},
				{"Normalize", Normalize(tc.in), tc.e164},
			} {
				if c.got != c.want {
					t.Errorf("%s(%q) = %q, want %q", c.fn, tc.in, c.got, c.want)
				}
			}
		})
	}
}

func TestNormalizeWithDialPlans(t *testing.T) {
	t.Parallel()
	var w warnings
	device := compileDialPlan("dial_plan", map[string]any{
		`^(\d{7})$`: map[string]any{"prefix": "+1415"},
	}, &w)
	acct := compileDialPlan("dial_plan", map[string]any{
		`^9(\d+)$`:  map[string]any{},
		`^(\d{4})$`: map[string]any{"prefix": "212555"}, // never reached after the device rule
	}, &w)
	if len(w) != 0 {
		t.Fatalf("warnings: %v", w)
	}
	tests := []struct {
		name, in, want string
		plans          []*DialPlan
	}{
		{"device seven digits", "8867900", "+14158867900", []*DialPlan{device, acct}},
		{"account strips 9", "94158867900", "+14158867900", []*DialPlan{device, acct}},
		{"first rule only per plan", "94158867900", "+14158867900", []*DialPlan{acct}},
		{"no plan", "8867900", "8867900", nil},
		{"nil plans skipped", "4158867900", "+14158867900", []*DialPlan{nil, nil}},
		{"account extension rule", "1234", "+12125551234", []*DialPlan{acct}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Normalize(tc.in, tc.plans...); got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
