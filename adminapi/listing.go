package adminapi

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/sipedge/sipedge/devices"
)

// row is one candidate of a listing: the stored document the filters see,
// the sort key and what the answer shows.
type row struct {
	name, id          string
	doc               map[string]any
	created, modified int64
	out               any
	// dev, when set, is where doc and out come from, decoded only for the
	// rows a filter looks into or the page shows.
	dev *devices.Device
}

func (r *row) document() map[string]any {
	if r.doc == nil && r.dev != nil {
		r.doc = r.dev.Doc()
	}
	return r.doc
}

func (r *row) output() any {
	if r.out == nil && r.dev != nil {
		r.out = deviceSummary(r.dev)
	}
	return r.out
}

// listQuery is the paging and filtering part of a listing's query string,
// copied out of the request.
type listQuery struct {
	paginate bool
	pageSize int
	startKey string // as the client sent it
	filters  []func(*row) bool
}

// parseListQuery reads Crossbar's paging and filter parameters; anything
// else in the query string is ignored, as Crossbar does. An unusable
// page_size falls back to the default (the devices listing's behaviour).
func parseListQuery(ctx *fasthttp.RequestCtx, defaultPageSize int) listQuery {
	q := listQuery{paginate: true, pageSize: defaultPageSize}
	for kb, vb := range ctx.QueryArgs().All() {
		k, v := string(kb), string(vb)
		switch {
		case k == "paginate":
			q.paginate = v != "false"
		case k == "page_size":
			if n, err := strconv.Atoi(v); err == nil && n > 0 {
				q.pageSize = n
			}
		case k == "start_key":
			q.startKey = v
		case strings.HasPrefix(k, "filter_not_"):
			path, want := splitDot(k[len("filter_not_"):]), filterValues(v)
			q.filters = append(q.filters, func(r *row) bool { return !valueMatches(r.document(), path, want) })
		case strings.HasPrefix(k, "filter_"):
			path, want := splitDot(k[len("filter_"):]), filterValues(v)
			q.filters = append(q.filters, func(r *row) bool { return valueMatches(r.document(), path, want) })
		case k == "has_key":
			path := splitDot(v)
			q.filters = append(q.filters, func(r *row) bool { _, ok := devices.LookupPath(r.document(), path); return ok })
		case k == "key_missing":
			path := splitDot(v)
			q.filters = append(q.filters, func(r *row) bool { _, ok := devices.LookupPath(r.document(), path); return !ok })
		case k == "has_value":
			path := splitDot(v)
			q.filters = append(q.filters, func(r *row) bool { return hasValue(r.document(), path) })
		case k == "value_missing":
			path := splitDot(v)
			q.filters = append(q.filters, func(r *row) bool { return !hasValue(r.document(), path) })
		case k == "created_from", k == "created_to", k == "modified_from", k == "modified_to":
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				q.filters = append(q.filters, timeFilter(k, n))
			}
		}
	}
	return q
}

// timeFilter bounds created/modified (Gregorian seconds, inclusive).
func timeFilter(k string, n int64) func(*row) bool {
	return func(r *row) bool {
		switch k {
		case "created_from":
			return r.created >= n
		case "created_to":
			return r.created <= n
		case "modified_from":
			return r.modified >= n
		default:
			return r.modified <= n
		}
	}
}

func splitDot(p string) []string { return strings.Split(p, ".") }

// filterValues: a JSON array means "any of these", anything else one value.
func filterValues(v string) []string {
	if strings.HasPrefix(v, "[") {
		var arr []any
		if err := json.Unmarshal([]byte(v), &arr); err == nil {
			out := make([]string, 0, len(arr))
			for _, e := range arr {
				out = append(out, asString(e))
			}
			return out
		}
	}
	return []string{v}
}

// valueMatches compares as strings; a missing key compares as "".
func valueMatches(doc map[string]any, path []string, want []string) bool {
	v, _ := devices.LookupPath(doc, path)
	return slices.Contains(want, asString(v))
}

func hasValue(doc map[string]any, path []string) bool {
	v, ok := devices.LookupPath(doc, path)
	if !ok {
		return false
	}
	switch x := v.(type) {
	case nil:
		return false
	case string:
		return x != ""
	case map[string]any:
		return len(x) > 0
	case []any:
		return len(x) > 0
	}
	return true
}

func asString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// apply filters, sorts by name then id, and cuts one page. The page is nil
// when pagination is off.
func (q listQuery) apply(rows []row) ([]any, *pageInfo) {
	kept := rows[:0:0]
	for i := range rows {
		ok := true
		for _, f := range q.filters {
			if !f(&rows[i]) {
				ok = false
				break
			}
		}
		if ok {
			kept = append(kept, rows[i])
		}
	}
	slices.SortFunc(kept, func(a, b row) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.id, b.id))
	})
	out := make([]any, 0, len(kept))
	if !q.paginate {
		for i := range kept {
			out = append(out, kept[i].output())
		}
		return out, nil
	}
	from := 0
	if q.startKey != "" {
		from = startIndex(kept, q.startKey)
	}
	to := min(from+q.pageSize, len(kept))
	for i := from; i < to; i++ {
		out = append(out, kept[i].output())
	}
	pg := &pageInfo{size: len(out), startKey: q.startKey}
	if to < len(kept) {
		pg.nextKey = encodeKey(kept[to].name, kept[to].id)
	}
	return out, pg
}

// Start keys are opaque to clients: base64url of name NUL id, so a page
// resumes at the right place even if the row it names was deleted.
func encodeKey(name, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(name + "\x00" + id))
}

// startIndex finds the first row at or after key. A key that is not ours is
// taken as a raw document id (Crossbar accepts raw keys), else as a name.
func startIndex(rows []row, key string) int {
	name, id := key, ""
	if b, err := base64.RawURLEncoding.DecodeString(key); err == nil {
		if n, i, ok := strings.Cut(string(b), "\x00"); ok {
			name, id = n, i
		}
	}
	if id == "" {
		for i := range rows {
			if rows[i].id == key {
				return i
			}
		}
	}
	i, _ := slices.BinarySearchFunc(rows, row{name: name, id: id}, func(a, b row) int {
		return cmp.Or(strings.Compare(a.name, b.name), strings.Compare(a.id, b.id))
	})
	return i
}
