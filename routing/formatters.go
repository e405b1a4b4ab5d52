package routing

import (
	"fmt"
	"regexp"
	"strings"
)

// Direction of a formatter: inbound applies to calls from the device,
// outbound to calls to it.
type direction uint8

const (
	dirBoth direction = iota
	dirInbound
	dirOutbound
)

type fmtOp uint8

const (
	opStrip fmtOp = iota + 1
	opValue
	opMatchInviteFormat
	opRegex
)

type formatter struct {
	dir            direction
	op             fmtOp
	value          string
	re             *regexp.Regexp
	prefix, suffix string
}

// Formatters are a device's compiled formatters, for the fields an edge
// owns: from (the From user), to (the To user), request (the Request-URI
// user), caller_id_number (the From user), caller_id_name (the From display
// name), and custom headers by name (matched with '-' as '_', any case).
type Formatters struct {
	from, to, request, cidNumber, cidName []formatter
	headers                               map[string][]formatter // key: lower-case, '-' → '_'
}

// compileFormatters compiles the formatters object. Each formatter is one
// of, in Kazoo's priority: strip, value, match_invite_format, regex (with
// prefix/suffix).
func compileFormatters(v any, w *warnings) *Formatters {
	m, _ := v.(map[string]any)
	if len(m) == 0 {
		return nil
	}
	fs := &Formatters{}
	for _, k := range sortedKeys(m) {
		path := "formatters." + k
		var list []any
		switch x := m[k].(type) {
		case []any:
			list = x
		case map[string]any:
			list = []any{x}
		default:
			w.add(path, "not an object or a list; ignored")
			continue
		}
		var out []formatter
		for i, raw := range list {
			o, _ := raw.(map[string]any)
			f, ok := compileFormatter(fmt.Sprintf("%s.%d", path, i), o, w)
			if ok {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			continue
		}
		switch key := formatterKey(k); key {
		case "from":
			fs.from = out
		case "to":
			fs.to = out
		case "request":
			fs.request = out
		case "caller_id_number":
			fs.cidNumber = out
		case "caller_id_name":
			fs.cidName = out
		default:
			if fs.headers == nil {
				fs.headers = map[string][]formatter{}
			}
			fs.headers[key] = out
		}
	}
	if fs.from == nil && fs.to == nil && fs.request == nil && fs.cidNumber == nil &&
		fs.cidName == nil && fs.headers == nil {
		return nil
	}
	return fs
}

func formatterKey(k string) string {
	return strings.ReplaceAll(strings.ToLower(k), "-", "_")
}

func compileFormatter(path string, o map[string]any, w *warnings) (formatter, bool) {
	if o == nil {
		w.add(path, "not an object; ignored")
		return formatter{}, false
	}
	var f formatter
	switch d := str(o, "direction"); d {
	case "", "both":
	case "inbound":
		f.dir = dirInbound
	case "outbound":
		f.dir = dirOutbound
	default:
		w.add(path+".direction", fmt.Sprintf("unknown direction %q; ignored", d))
		return f, false
	}
	switch {
	case boolean(o, "strip"):
		f.op = opStrip
	case o["value"] != nil:
		f.op = opValue
		f.value = str(o, "value")
		if !wireSafe(f.value) || strings.ContainsAny(f.value, "\"\\") {
			w.add(path+".value", "contains CR, LF, NUL, a control character, a quote or a backslash; ignored")
			return f, false
		}
	case boolean(o, "match_invite_format"):
		f.op = opMatchInviteFormat
	case str(o, "regex") != "":
		re, err := regexp.Compile(str(o, "regex"))
		if err != nil {
			w.add(path+".regex", fmt.Sprintf("does not compile (%v); ignored", err))
			return f, false
		}
		f.op, f.re = opRegex, re
		f.prefix, f.suffix = str(o, "prefix"), str(o, "suffix")
		if !wireSafe(f.prefix) || !wireSafe(f.suffix) || strings.ContainsAny(f.prefix+f.suffix, "\"\\") {
			w.add(path, "prefix or suffix contains CR, LF, NUL, a control character, a quote or a backslash; ignored")
			return f, false
		}
	default:
		w.add(path, "no strip, value, match_invite_format or regex; ignored")
		return f, false
	}
	return f, true
}

// apply runs a field's formatters for direction d: the first that applies
// wins. It reports the new value and whether the field is to be stripped.
// f is the invite format match_invite_format reformats with.
func apply(list []formatter, d direction, v string, f InviteFormat) (out string, strip bool) {
	for i := range list {
		ft := &list[i]
		if ft.dir != dirBoth && ft.dir != d {
			continue
		}
		switch ft.op {
		case opStrip:
			return "", true
		case opValue:
			return ft.value, false
		case opMatchInviteFormat:
			return Convert(f, v), false
		case opRegex:
			loc := ft.re.FindStringSubmatchIndex(v)
			if loc == nil {
				continue // falls through to the next formatter
			}
			m := v[loc[0]:loc[1]]
			if len(loc) >= 4 && loc[2] >= 0 {
				m = v[loc[2]:loc[3]]
			}
			return ft.prefix + m + ft.suffix, false
		}
	}
	return v, false
}

// formatUser applies formatters to a URI user part; a result that is not a
// valid user part (or a strip) leaves the value as it was.
func formatUser(list []formatter, d direction, v string, f InviteFormat) string {
	if len(list) == 0 {
		return v
	}
	out, strip := apply(list, d, v, f)
	if strip || !userSafe(out) {
		return v
	}
	return out
}

// formatDisplay applies formatters to a display name; strip empties it.
func formatDisplay(list []formatter, d direction, v string, f InviteFormat) string {
	if len(list) == 0 {
		return v
	}
	out, strip := apply(list, d, v, f)
	if strip {
		return ""
	}
	if !displaySafe(out) {
		return v
	}
	return out
}
