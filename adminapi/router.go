package adminapi

import (
	"slices"
	"strings"
)

// scope says who may call a route.
type scope int

const (
	// scopePublic needs no token (probes, metrics, the API description).
	scopePublic scope = iota
	// scopeAnyToken accepts the admin token or any account token; the
	// handler narrows what an account token sees.
	scopeAnyToken
	// scopeAccount accepts the admin token, or an account token whose
	// account is the {ACCOUNT_ID} of the path.
	scopeAccount
	// scopeAdmin accepts only the admin token.
	scopeAdmin
)

func (s scope) String() string {
	switch s {
	case scopePublic:
		return "public"
	case scopeAnyToken:
		return "any_token"
	case scopeAccount:
		return "account"
	default:
		return "admin"
	}
}

// handlerFunc answers one routed request. It returns either a reply or an
// error; errors that are not *apiError are mapped by mapError.
type handlerFunc func(s *Server, r *request) (*reply, error)

// route is one row of the routing table.
type route struct {
	method  string
	pattern string // segments; "{NAME}" matches any one non-empty segment
	scope   scope
	// body marks routes that take a JSON request envelope.
	body   bool
	handle handlerFunc

	segs []string // pattern split on "/", filled by newRouter
}

// routes is the whole API. Keep it a table: the OpenAPI test walks it.
func routes() []route {
	const acc = "/v2/accounts/{ACCOUNT_ID}"
	return []route{
		{method: "GET", pattern: "/livez", scope: scopePublic, handle: (*Server).livez},
		{method: "GET", pattern: "/readyz", scope: scopePublic, handle: (*Server).readyz},
		{method: "GET", pattern: "/metrics", scope: scopePublic, handle: (*Server).metrics},
		{method: "GET", pattern: "/v2/openapi.json", scope: scopePublic, handle: (*Server).openapi},

		{method: "PUT", pattern: "/v2/accounts", scope: scopeAdmin, body: true, handle: (*Server).createAccount},
		{method: "GET", pattern: "/v2/accounts", scope: scopeAnyToken, handle: (*Server).listAccounts},
		{method: "GET", pattern: acc, scope: scopeAccount, handle: (*Server).getAccount},
		{method: "POST", pattern: acc, scope: scopeAccount, body: true, handle: (*Server).replaceAccount},
		{method: "PATCH", pattern: acc, scope: scopeAccount, body: true, handle: (*Server).patchAccount},
		{method: "DELETE", pattern: acc, scope: scopeAdmin, handle: (*Server).deleteAccount},

		{method: "PUT", pattern: acc + "/tokens", scope: scopeAdmin, handle: (*Server).createToken},
		{method: "GET", pattern: acc + "/tokens", scope: scopeAccount, handle: (*Server).listTokens},
		{method: "DELETE", pattern: acc + "/tokens/{TOKEN_ID}", scope: scopeAccount, handle: (*Server).deleteToken},

		{method: "GET", pattern: acc + "/devices", scope: scopeAccount, handle: (*Server).listDevices},
		{method: "PUT", pattern: acc + "/devices", scope: scopeAccount, body: true, handle: (*Server).createDevice},
		{method: "GET", pattern: acc + "/devices/status", scope: scopeAccount, handle: (*Server).deviceStatus},
		{method: "POST", pattern: acc + "/devices/sync", scope: scopeAccount, handle: (*Server).syncAccount},
		{method: "GET", pattern: acc + "/devices/{DEVICE_ID}", scope: scopeAccount, handle: (*Server).getDevice},
		{method: "POST", pattern: acc + "/devices/{DEVICE_ID}", scope: scopeAccount, body: true, handle: (*Server).replaceDevice},
		{method: "PATCH", pattern: acc + "/devices/{DEVICE_ID}", scope: scopeAccount, body: true, handle: (*Server).patchDevice},
		{method: "DELETE", pattern: acc + "/devices/{DEVICE_ID}", scope: scopeAccount, handle: (*Server).deleteDevice},
		{method: "POST", pattern: acc + "/devices/{DEVICE_ID}/sync", scope: scopeAccount, handle: (*Server).syncDevice},
		// notify decodes its own body: Kazoo puts "action" beside "data".
		{method: "PUT", pattern: acc + "/devices/{DEVICE_ID}/notify", scope: scopeAccount, handle: (*Server).notifyDevice},
		{method: "GET", pattern: acc + "/users/{USER_ID}/devices", scope: scopeAccount, handle: (*Server).userDevices},

		{method: "GET", pattern: acc + "/registrations", scope: scopeAccount, handle: (*Server).listRegistrations},
		{method: "DELETE", pattern: acc + "/registrations", scope: scopeAccount, handle: (*Server).flushAccount},
		{method: "GET", pattern: acc + "/registrations/count", scope: scopeAccount, handle: (*Server).countRegistrations},
		{method: "DELETE", pattern: acc + "/registrations/{USERNAME}", scope: scopeAccount, handle: (*Server).flushUser},

		{method: "GET", pattern: "/v2/bans", scope: scopeAdmin, handle: (*Server).listBans},
		{method: "DELETE", pattern: "/v2/bans/{BAN_ID}", scope: scopeAdmin, handle: (*Server).deleteBan},
	}
}

// router matches a path against the table. Literal segments win over
// parameters, so /devices/status is never taken for a device id.
type router struct {
	routes []route // sorted most specific first
}

func newRouter(rs []route) *router {
	rs = slices.Clone(rs)
	for i := range rs {
		rs[i].segs = splitPath(rs[i].pattern)
	}
	slices.SortStableFunc(rs, func(a, b route) int { return compareSpecificity(a.segs, b.segs) })
	return &router{routes: rs}
}

// compareSpecificity orders a before b (negative) when, at the first
// segment where they differ in kind, a has a literal and b a parameter.
func compareSpecificity(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		pa, pb := isParam(a[i]), isParam(b[i])
		switch {
		case pa && !pb:
			return 1
		case !pa && pb:
			return -1
		}
	}
	return 0
}

func isParam(seg string) bool {
	return len(seg) > 2 && seg[0] == '{' && seg[len(seg)-1] == '}'
}

// splitPath splits "/a/b/" into ["a","b"].
func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match finds the route for method and path. When the path is known but
// the method is not, rt is nil and allow lists the methods the path takes.
func (rt *router) match(method, path string) (r *route, params map[string]string, allow []string) {
	segs := splitPath(path)
	for i := range rt.routes {
		cand := &rt.routes[i]
		p, ok := matchSegs(cand.segs, segs)
		if !ok {
			continue
		}
		if cand.method == method {
			return cand, p, nil
		}
		if !slices.Contains(allow, cand.method) {
			allow = append(allow, cand.method)
		}
	}
	return nil, nil, allow
}

func matchSegs(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	var params map[string]string
	for i, ps := range pattern {
		if isParam(ps) {
			if segs[i] == "" {
				return nil, false
			}
			if params == nil {
				params = make(map[string]string, 2)
			}
			params[ps[1:len(ps)-1]] = segs[i]
			continue
		}
		if ps != segs[i] {
			return nil, false
		}
	}
	return params, true
}
