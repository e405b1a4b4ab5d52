package routing

import (
	"strings"
	"testing"
)

func TestDialPlanApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		plan     map[string]any
		in, want string
		warn     string // a warning field expected, "" for none
	}{
		{
			name: "kazoo example seven digits",
			plan: map[string]any{`^(\d{7})$`: map[string]any{"prefix": "+1415"}},
			in:   "8867900", want: "+14158867900",
		},
		{
			name: "no match leaves the number",
			plan: map[string]any{`^(\d{7})$`: map[string]any{"prefix": "+1415"}},
			in:   "1001", want: "1001",
		},
		{
			name: "no group uses the whole match",
			plan: map[string]any{`^\d{4}$`: map[string]any{"prefix": "8", "suffix": "0"}},
			in:   "1001", want: "810010",
		},
		{
			name: "last matched group of an alternation",
			plan: map[string]any{`^011(\d+)$|^00(\d+)$`: map[string]any{"prefix": "+"}},
			in:   "0044207", want: "+44207",
		},
		{
			name: "rules chain in lexical order",
			plan: map[string]any{
				`^9(\d+)$`:      map[string]any{},               // first: strips the 9
				`^[1](\d{10})$`: map[string]any{"prefix": "+1"}, // "[" sorts after "9": sees the result
			},
			in: "914158867900", want: "+14158867900",
		},
		{
			name: "bad regex skipped",
			plan: map[string]any{`^(?!911)(\d+)$`: map[string]any{"prefix": "9"}},
			in:   "1001", want: "1001", warn: "dial_plan.^(?!911)(\\d+)$",
		},
		{
			name: "system plans reported",
			plan: map[string]any{"system": []any{"us"}},
			in:   "1001", want: "1001", warn: "dial_plan.system",
		},
		{
			name: "unsafe prefix skipped",
			plan: map[string]any{`^(\d+)$`: map[string]any{"prefix": "1\r\nX: y"}},
			in:   "1001", want: "1001", warn: `dial_plan.^(\d+)$`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var w warnings
			p := compileDialPlan("dial_plan", tc.plan, &w)
			if got := p.Apply(tc.in); got != tc.want {
				t.Errorf("Apply(%q) = %q, want %q", tc.in, got, tc.want)
			}
			switch {
			case tc.warn == "" && len(w) > 0:
				t.Errorf("unexpected warnings %v", w)
			case tc.warn != "" && (len(w) != 1 || w[0].Field != tc.warn):
				t.Errorf("warnings %v, want one on %q", w, tc.warn)
			}
		})
	}
}

func TestDialPlanFromDocuments(t *testing.T) {
	t.Parallel()
	p := profile(t, "d1", `{"sip":{"username":"u1"},"dial_plan":{"^(\\d{7})$":{"prefix":"+1415"}}}`)
	a := account(t, `{"dial_plan":{"^9(\\d+)$":{"description":"outside line"}}}`)
	if p.DialPlan.Len() != 1 || a.DialPlan.Len() != 1 {
		t.Fatalf("plans not compiled: %d %d", p.DialPlan.Len(), a.DialPlan.Len())
	}
	// A device dialling 98867900: the device rule does not match, the
	// account strips the 9, the e164 converter does not know 7 digits.
	in := Input{Caller: p, Account: a, DialedUser: "98867900", FromUser: "u1"}
	plan := Decide(in)
	mustBranches(t, plan, 1)
	if got := plan.Branches[0].Number; got != "8867900" {
		t.Errorf("device then account: number %q, want 8867900", got)
	}
	// 8867900: the device rule applies, then e164.
	in.DialedUser = "8867900"
	plan = Decide(in)
	mustBranches(t, plan, 1)
	if got := plan.Branches[0].Number; got != "+14158867900" {
		t.Errorf("device plan: number %q, want +14158867900", got)
	}
	if !strings.HasPrefix(plan.Branches[0].Number, "+1") || plan.Branches[0].Class != ClassDIDUS {
		t.Errorf("class %s, want did_us", plan.Branches[0].Class)
	}
}
