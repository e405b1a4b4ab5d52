package devices

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// fieldErrors accumulates a ValidationError's Fields: Kazoo's
// path -> keyword -> details map.
type fieldErrors map[string]map[string]map[string]any

// add records one failure; the first failure of a keyword at a path wins.
func (f fieldErrors) add(path []string, keyword string, details map[string]any) {
	f.addKey(joinPath(path), keyword, details)
}

// addKey is add for an already joined path.
func (f fieldErrors) addKey(key, keyword string, details map[string]any) {
	byKw := f[key]
	if byKw == nil {
		byKw = map[string]map[string]any{}
		f[key] = byKw
	}
	if _, dup := byKw[keyword]; !dup {
		byKw[keyword] = details
	}
}

func (f fieldErrors) err() *ValidationError {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

// joinPath joins a field path with "." as Kazoo does, escaping literal dots
// inside keys as %2E.
func joinPath(path []string) string {
	var sb strings.Builder
	for i, tok := range path {
		if i > 0 {
			sb.WriteByte('.')
		}
		sb.WriteString(strings.ReplaceAll(tok, ".", "%2E"))
	}
	return sb.String()
}

var printer = message.NewPrinter(language.English)

// collect maps the validator's error tree onto Kazoo's shape. doc is the
// validated instance, used to report the offending value.
func (f fieldErrors) collect(e *jsonschema.ValidationError, doc any) {
	loc := e.InstanceLocation
	value := func() any { v, _ := LookupPath(doc, loc); return v }
	switch k := e.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.AllOf, *kind.Reference:
		for _, c := range e.Causes {
			f.collect(c, doc)
		}
		return
	case *kind.AnyOf:
		f.collectAlternatives(e, doc)
		return
	case *kind.OneOf:
		if k.Subschemas != nil {
			f.add(loc, "oneOf", map[string]any{"message": "Value matched more than one allowed schema", "value": value()})
			return
		}
		f.collectAlternatives(e, doc)
		return
	case *kind.Required:
		for _, m := range k.Missing {
			f.add(append(slices.Clip(loc), m), "required", map[string]any{
				"message": "Field is required but missing",
				"value":   m,
			})
		}
	case *kind.Type:
		f.add(loc, "type", map[string]any{
			"message": "Value did not match type(s) " + strings.Join(k.Want, ", "),
			"value":   value(),
			"target":  typeTarget(k.Want),
		})
	case *kind.Enum:
		f.add(loc, "enum", map[string]any{
			"message": "Value not found in enumerated list of values",
			"value":   value(),
			"target":  slices.Clone(k.Want),
		})
	case *kind.MinLength:
		f.add(loc, "minLength", map[string]any{
			"message": fmt.Sprintf("String must be at least %d characters", k.Want),
			"value":   value(),
			"target":  k.Want,
		})
	case *kind.MaxLength:
		f.add(loc, "maxLength", map[string]any{
			"message": fmt.Sprintf("String must not be more than %d characters", k.Want),
			"value":   value(),
			"target":  k.Want,
		})
	case *kind.Pattern:
		f.add(loc, "pattern", map[string]any{
			"message": fmt.Sprintf("Failed to match pattern '%s'", k.Want),
			"value":   value(),
			"target":  k.Want,
		})
	case *kind.Minimum:
		f.add(loc, "minimum", numDetails("Value must be at least %s", value(), k.Want))
	case *kind.Maximum:
		f.add(loc, "maximum", numDetails("Value must be at most %s", value(), k.Want))
	case *kind.ExclusiveMinimum:
		f.add(loc, "exclusiveMinimum", numDetails("Value must be greater than %s", value(), k.Want))
	case *kind.ExclusiveMaximum:
		f.add(loc, "exclusiveMaximum", numDetails("Value must be less than %s", value(), k.Want))
	case *kind.MultipleOf:
		f.add(loc, "multipleOf", numDetails("Value must be a multiple of %s", value(), k.Want))
	case *kind.MinItems:
		f.add(loc, "minItems", map[string]any{
			"message": fmt.Sprintf("The list must have at least %d items", k.Want),
			"value":   value(),
			"target":  k.Want,
		})
	case *kind.MaxItems:
		f.add(loc, "maxItems", map[string]any{
			"message": fmt.Sprintf("The list must not have more than %d items", k.Want),
			"value":   value(),
			"target":  k.Want,
		})
	case *kind.UniqueItems:
		f.add(loc, "uniqueItems", map[string]any{
			"message": "List items must be unique",
			"value":   value(),
		})
	case *kind.AdditionalProperties:
		for _, p := range k.Properties {
			f.add(append(slices.Clip(loc), p), "additionalProperties", map[string]any{
				"message": "Property is not allowed",
				"value":   p,
			})
		}
	case *kind.FalseSchema:
		f.add(loc, "not", map[string]any{"message": "Value is not permitted", "value": value()})
	case *kind.InvalidJsonValue:
		f.add(loc, "type", map[string]any{"message": "Value is not a JSON value"})
	default:
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				f.collect(c, doc)
			}
			return
		}
		kw := "invalid"
		if p := k.KeywordPath(); len(p) > 0 {
			kw = p[0]
		}
		f.add(loc, kw, map[string]any{
			"message": k.LocalizedString(printer),
			"value":   value(),
		})
	}
}

// collectAlternatives reports a failed anyOf/oneOf. When every alternative
// failed on the value's type, that is one "type" error listing all the
// types. Otherwise the alternative whose type matched explains the failure
// (e.g. a formatter object with a bad "direction" reports the enum).
func (f fieldErrors) collectAlternatives(e *jsonschema.ValidationError, doc any) {
	loc := e.InstanceLocation
	var types []string
	for _, branch := range e.Causes {
		want, ok := typeMismatchAt(branch, loc)
		if !ok {
			f.collect(branch, doc)
			return
		}
		for _, t := range want {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	v, _ := LookupPath(doc, loc)
	f.add(loc, "type", map[string]any{
		"message": "Value did not match type(s) " + strings.Join(types, ", "),
		"value":   v,
		"target":  typeTarget(types),
	})
}

// typeMismatchAt tells whether e means only "the value at loc has the wrong
// type", and which types were wanted.
func typeMismatchAt(e *jsonschema.ValidationError, loc []string) ([]string, bool) {
	switch k := e.ErrorKind.(type) {
	case *kind.Type:
		return k.Want, slices.Equal(e.InstanceLocation, loc)
	case *kind.Schema, *kind.Group, *kind.AllOf, *kind.Reference:
		var all []string
		for _, c := range e.Causes {
			want, ok := typeMismatchAt(c, loc)
			if !ok {
				return nil, false
			}
			all = append(all, want...)
		}
		return all, len(e.Causes) > 0
	}
	return nil, false
}

func typeTarget(want []string) any {
	if len(want) == 1 {
		return want[0]
	}
	out := make([]any, len(want))
	for i, w := range want {
		out[i] = w
	}
	return out
}

func numDetails(format string, v any, want *big.Rat) map[string]any {
	var target any
	if want.IsInt() && want.Num().IsInt64() {
		target = want.Num().Int64()
	} else {
		target, _ = want.Float64()
	}
	return map[string]any{
		"message": fmt.Sprintf(format, want.RatString()),
		"value":   v,
		"target":  target,
	}
}

// LookupPath returns the value at path in a decoded JSON document: object
// keys, and decimal indexes into arrays. The admin API's filters use it too.
func LookupPath(doc any, path []string) (any, bool) {
	cur := doc
	for _, tok := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}
