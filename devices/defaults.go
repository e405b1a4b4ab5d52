package devices

import (
	"fmt"
	"regexp"
	"strings"
)

// defNode is the part of a schema node the defaults walker needs: the
// properties (with their "default" keywords) and the subschemas of object
// and array values. It is built once from the schema document; "$ref"s are
// resolved (and shared, so recursive definitions such as metaflow are fine).
type defNode struct {
	props      map[string]*defProp
	patterns   []defPattern
	additional *defNode
	items      *defNode
}

type defProp struct {
	def    any // the "default" keyword, beside "$ref" or not
	hasDef bool
	node   *defNode
}

type defPattern struct {
	re   *regexp.Regexp
	node *defNode
}

type defBuilder struct {
	root map[string]any
	refs map[string]*defNode
}

func buildDefaults(root map[string]any) (*defNode, error) {
	b := &defBuilder{root: root, refs: map[string]*defNode{}}
	return b.node(root)
}

func (b *defBuilder) node(s map[string]any) (*defNode, error) {
	if ref, ok := s["$ref"].(string); ok {
		return b.ref(ref)
	}
	n := &defNode{}
	if props, ok := s["properties"].(map[string]any); ok {
		n.props = make(map[string]*defProp, len(props))
		for name, raw := range props {
			ps, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			p := &defProp{}
			p.def, p.hasDef = ps["default"]
			child, err := b.node(ps)
			if err != nil {
				return nil, fmt.Errorf("properties/%s: %w", name, err)
			}
			p.node = child
			n.props[name] = p
		}
	}
	if pats, ok := s["patternProperties"].(map[string]any); ok {
		for pat, raw := range pats {
			ps, ok := raw.(map[string]any)
			if !ok {
				continue
			}
			re, err := regexp.Compile(pat)
			if err != nil {
				return nil, fmt.Errorf("patternProperties %q: %w", pat, err)
			}
			child, err := b.node(ps)
			if err != nil {
				return nil, err
			}
			n.patterns = append(n.patterns, defPattern{re: re, node: child})
		}
	}
	if ap, ok := s["additionalProperties"].(map[string]any); ok {
		child, err := b.node(ap)
		if err != nil {
			return nil, err
		}
		n.additional = child
	}
	if it, ok := s["items"].(map[string]any); ok {
		child, err := b.node(it)
		if err != nil {
			return nil, err
		}
		n.items = child
	}
	// anyOf/oneOf branches are not walked: which branch applies is only
	// known after validation, and none of the documents' branches carries a
	// default.
	return n, nil
}

// ref resolves a local JSON pointer ("#/definitions/name").
func (b *defBuilder) ref(ref string) (*defNode, error) {
	if n, ok := b.refs[ref]; ok {
		return n, nil
	}
	ptr, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil, fmt.Errorf("unsupported $ref %q", ref)
	}
	var cur any = b.root
	for _, tok := range strings.Split(ptr, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
		if cur, ok = m[tok]; !ok {
			return nil, fmt.Errorf("$ref %q does not resolve", ref)
		}
	}
	target, ok := cur.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("$ref %q is not a schema object", ref)
	}
	// Register before building so that a recursive reference finds it.
	n := &defNode{}
	b.refs[ref] = n
	built, err := b.node(target)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	*n = *built
	return n, nil
}

// fill inserts a deep copy of every missing property's default into the
// objects of v, recursively: into values the client sent and into values
// that were themselves just defaulted (media {} gets audio {} which gets
// codecs ["PCMU"]). Values of the wrong type are left for validation.
func (n *defNode) fill(v any) {
	if n == nil {
		return
	}
	switch v := v.(type) {
	case map[string]any:
		for name, p := range n.props {
			cur, ok := v[name]
			if !ok && p.hasDef {
				cur, ok = deepCopyJSON(p.def), true
				v[name] = cur
			}
			if ok {
				p.node.fill(cur)
			}
		}
		if len(n.patterns) == 0 && n.additional == nil {
			return
		}
		for key, val := range v {
			_, matched := n.props[key]
			for _, pn := range n.patterns {
				if pn.re.MatchString(key) {
					matched = true
					pn.node.fill(val)
				}
			}
			if !matched {
				n.additional.fill(val)
			}
		}
	case []any:
		if n.items != nil {
			for _, it := range v {
				n.items.fill(it)
			}
		}
	}
}
