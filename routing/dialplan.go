package routing

import (
	"fmt"
	"regexp"
	"slices"
)

// DialPlan is a compiled dial_plan object: {"<regex>": {"prefix", "suffix"}}.
// Rules run in lexical order of their regexes (JSON object order does not
// survive decoding, so this is the order we can promise).
type DialPlan struct {
	rules []dialRule
}

type dialRule struct {
	src            string
	re             *regexp.Regexp
	prefix, suffix string
}

// compileDialPlan compiles a dial_plan object. Rules that cannot be compiled
// (RE2 has no lookaround or backreferences) or whose prefix/suffix could not
// go on the wire are skipped and reported.
func compileDialPlan(field string, v any, w *warnings) *DialPlan {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p := &DialPlan{}
	for _, k := range keys {
		if k == "system" {
			w.add(field+".system", "named system dial plans are not supported; ignored")
			continue
		}
		r, _ := m[k].(map[string]any)
		if r == nil {
			w.add(field+"."+k, "rule is not an object; ignored")
			continue
		}
		re, err := regexp.Compile(k)
		if err != nil {
			w.add(field+"."+k, fmt.Sprintf("regex does not compile (%v); ignored", err))
			continue
		}
		rule := dialRule{src: k, re: re, prefix: str(r, "prefix"), suffix: str(r, "suffix")}
		if !numberSafe(rule.prefix) || !numberSafe(rule.suffix) {
			w.add(field+"."+k, "prefix or suffix has characters a SIP user part cannot carry; ignored")
			continue
		}
		p.rules = append(p.rules, rule)
	}
	if len(p.rules) == 0 {
		return nil
	}
	return p
}

// Len is the number of rules.
func (p *DialPlan) Len() int {
	if p == nil {
		return 0
	}
	return len(p.rules)
}

// Apply runs every rule in order; each rule that matches rewrites the number
// to prefix + last matched capture group (the whole match when the regex has
// no group) + suffix, and later rules see the rewritten number (Kazoo's
// off-net dialling). A nil plan returns n.
func (p *DialPlan) Apply(n string) string {
	if p == nil {
		return n
	}
	for i := range p.rules {
		if out, ok := p.rules[i].apply(n); ok {
			n = out
		}
	}
	return n
}

// applyFirst applies only the first matching rule (Kazoo's normalize path).
func (p *DialPlan) applyFirst(n string) string {
	if p == nil {
		return n
	}
	for i := range p.rules {
		if out, ok := p.rules[i].apply(n); ok {
			return out
		}
	}
	return n
}

func (r *dialRule) apply(n string) (string, bool) {
	loc := r.re.FindStringSubmatchIndex(n)
	if loc == nil {
		return n, false
	}
	return r.prefix + lastGroup(n, loc) + r.suffix, true
}

// lastGroup is the last capture group that took part in the match, else the
// whole match: what Kazoo gets from Erlang's re with capture all.
func lastGroup(s string, loc []int) string {
	for i := len(loc)/2 - 1; i >= 1; i-- {
		if loc[2*i] >= 0 {
			return s[loc[2*i]:loc[2*i+1]]
		}
	}
	return s[loc[0]:loc[1]]
}
