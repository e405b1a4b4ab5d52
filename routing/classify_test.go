package routing

import "testing"

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string // as dialled
		want Class
	}{
		{"tollfree 800", "18005551234", ClassTollfreeUS},
		{"tollfree 888", "+18885551234", ClassTollfreeUS},
		{"tollfree 88x", "8835551234", ClassTollfreeUS},
		{"tollfree 877", "8775551234", ClassTollfreeUS},
		{"tollfree 866", "8665551234", ClassTollfreeUS},
		{"tollfree 855", "8555551234", ClassTollfreeUS},
		{"tollfree 844", "8445551234", ClassTollfreeUS},
		{"tollfree 833", "8335551234", ClassTollfreeUS},
		{"tollfree 822", "8225551234", ClassTollfreeUS},
		{"toll 900", "19005551234", ClassTollUS},
		{"emergency 911", "911", ClassEmergency},
		{"emergency 933", "933", ClassEmergency},
		{"emergency 999", "999", ClassEmergency},
		{"N11 711", "711", ClassEmergency},
		{"311 is not emergency", "311", ClassUnknown},
		{"caribbean jamaica", "18765551234", ClassCaribbean},
		{"caribbean PR 787", "+17875551234", ClassCaribbean},
		{"caribbean USVI 340", "3405551234", ClassCaribbean},
		{"did_us", "4158867900", ClassDIDUS},
		{"did_us e164", "+14158867900", ClassDIDUS},
		{"international 011", "011442071838750", ClassInternational},
		{"international +", "+442071838750", ClassInternational},
		{"international 00", "0033142685300", ClassInternational},
		{"eight digit quirk is international", "23456789", ClassInternational},
		{"extension", "1001", ClassUnknown},
		{"name", "alice", ClassUnknown},
		{"+1 short", "+1415", ClassUnknown},
		{"+0 not international", "+0123456789", ClassUnknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := ClassifyDialed(tc.in); got != tc.want {
				t.Errorf("ClassifyDialed(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if got := Classify(ToE164(tc.in)); got != tc.want {
				t.Errorf("Classify(ToE164(%q)) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseClass(t *testing.T) {
	t.Parallel()
	for c := Class(0); c < numClasses; c++ {
		got, ok := ParseClass(c.String())
		if !ok || got != c {
			t.Errorf("ParseClass(%q) = %v %v", c.String(), got, ok)
		}
	}
	if _, ok := ParseClass("premium"); ok {
		t.Error("ParseClass accepted an unknown classifier")
	}
}
