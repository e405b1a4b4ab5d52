package devices

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Documents are map[string]any trees holding only the types encoding/json
// produces when decoding into any: map[string]any, []any, string, float64,
// bool and nil. canonical converts whatever a caller passes (json.Number,
// ints, typed slices) into that form and deep-copies it, so the store never
// shares maps with its callers.

// isPrivateKey tells whether a top-level key is private to the store, as in
// Kazoo (kz_doc:public_fields drops "_*" and "pvt_*").
func isPrivateKey(k string) bool {
	return strings.HasPrefix(k, "_") || strings.HasPrefix(k, "pvt_")
}

// prepareDoc turns a request document into a canonical public document:
// private keys, "id" and "sync" removed.
func prepareDoc(doc map[string]any) (map[string]any, *ValidationError) {
	out := make(map[string]any, len(doc))
	fe := fieldErrors{}
	for k, v := range doc {
		if isPrivateKey(k) || k == "id" || k == "sync" {
			continue
		}
		if c, ok := canonical(v, []string{k}, fe); ok {
			out[k] = c
		}
	}
	if verr := fe.err(); verr != nil {
		return nil, verr
	}
	return out, nil
}

// canonical deep-copies v into the canonical document form. Values that are
// not JSON (NaN, channels, ...) are reported in fe under path.
func canonical(v any, path []string, fe fieldErrors) (any, bool) {
	switch v := v.(type) {
	case nil, string, bool:
		return v, true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			notJSON(fe, path)
			return nil, false
		}
		return v, true
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil || math.IsInf(f, 0) {
			notJSON(fe, path)
			return nil, false
		}
		return f, true
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			if c, ok := canonical(e, append(path, k), fe); ok {
				out[k] = c
			}
		}
		return out, true
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			c, ok := canonical(e, append(path, strconv.Itoa(i)), fe)
			if !ok {
				return nil, false
			}
			out[i] = c
		}
		return out, true
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32:
		f := reflect.ValueOf(v).Convert(reflect.TypeFor[float64]()).Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			notJSON(fe, path)
			return nil, false
		}
		return f, true
	default:
		// Typed Go values ([]string, map[string]string, structs): let
		// encoding/json decide what they look like.
		raw, err := json.Marshal(v)
		if err != nil {
			notJSON(fe, path)
			return nil, false
		}
		var back any
		if err := json.Unmarshal(raw, &back); err != nil {
			notJSON(fe, path)
			return nil, false
		}
		return back, true
	}
}

func notJSON(fe fieldErrors, path []string) {
	fe.add(path, "type", map[string]any{"message": "Value is not a JSON value"})
}

// deepCopyJSON copies a canonical document value.
func deepCopyJSON(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return deepCopyMap(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = deepCopyJSON(e)
		}
		return out
	default:
		return v
	}
}

func deepCopyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, e := range m {
		out[k] = deepCopyJSON(e)
	}
	return out
}

// deepMerge applies a PATCH (Kazoo's crossbar_doc:patch_the_doc): the patch
// wins; objects are merged recursively; arrays and scalars replace; a JSON
// null deletes the key (also inside objects the patch adds). dst is
// modified; patch must be canonical and is not retained.
func deepMerge(dst, patch map[string]any) {
	for k, pv := range patch {
		if pv == nil {
			delete(dst, k)
			continue
		}
		pm, pIsMap := pv.(map[string]any)
		if !pIsMap {
			dst[k] = deepCopyJSON(pv)
			continue
		}
		dm, dIsMap := dst[k].(map[string]any)
		if !dIsMap {
			dm = map[string]any{}
			dst[k] = dm
		}
		deepMerge(dm, pm)
	}
}
