package adminapi

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strconv"

	"github.com/valyala/fasthttp"
)

// envelope is Crossbar's response wrapper. Field order is alphabetical, as
// Kazoo's encoder writes it; keys without a value are omitted.
type envelope struct {
	AuthToken    string `json:"auth_token,omitempty"`
	Data         any    `json:"data"`
	Error        string `json:"error,omitempty"`
	Message      string `json:"message,omitempty"`
	NextStartKey string `json:"next_start_key,omitempty"`
	PageSize     *int   `json:"page_size,omitempty"`
	RequestID    string `json:"request_id"`
	Revision     string `json:"revision,omitempty"`
	StartKey     string `json:"start_key,omitempty"`
	Status       string `json:"status"`
}

// reply is a successful answer before it is wrapped.
type reply struct {
	status int // 0 means 200
	data   any
	// rev is the document revision of a single-document answer; it becomes
	// both "revision" and the ETag. Lists get an MD5 of their data instead.
	rev  string
	list bool
	page *pageInfo
	// raw bypasses the envelope (the OpenAPI document).
	raw         []byte
	contentType string
	// written means the handler wrote the response itself (/metrics).
	written bool
}

// pageInfo carries the paging keys of a paginated listing.
type pageInfo struct {
	size     int
	startKey string
	nextKey  string
}

// apiError is a Crossbar error answer.
type apiError struct {
	code    int
	message string // the envelope's "message", e.g. "bad_identifier"
	data    any
	allow   string // Allow header for 405
}

func (e *apiError) Error() string { return "adminapi: " + strconv.Itoa(e.code) + " " + e.message }

func msgData(m string) map[string]any { return map[string]any{"message": m} }

func errNotFoundPath() *apiError {
	return &apiError{code: fasthttp.StatusNotFound, message: "not_found", data: msgData("not found")}
}

func errMethod(allow string) *apiError {
	return &apiError{code: fasthttp.StatusMethodNotAllowed, message: "invalid_method", data: msgData("method not allowed"), allow: allow}
}

func errUnauthorized() *apiError {
	return &apiError{code: fasthttp.StatusUnauthorized, message: "invalid_credentials", data: msgData("invalid credentials")}
}

func errForbidden() *apiError {
	return &apiError{code: fasthttp.StatusForbidden, message: "forbidden", data: msgData("forbidden")}
}

// errBadIdentifier is Kazoo's answer for a document id that does not exist.
func errBadIdentifier(id string) *apiError {
	return &apiError{code: fasthttp.StatusNotFound, message: "bad_identifier",
		data: map[string]any{"cause": id, "message": "bad identifier"}}
}

// errBadIdentifierList is crossbar_util:response_bad_identifier, used by the
// registrations flush: the data is a list holding the id.
func errBadIdentifierList(id string) *apiError {
	return &apiError{code: fasthttp.StatusNotFound, message: "bad identifier", data: []string{id}}
}

func errValidation(fields any) *apiError {
	return &apiError{code: fasthttp.StatusBadRequest, message: "validation error", data: fields}
}

func errNotImplemented() *apiError {
	return &apiError{code: fasthttp.StatusNotImplemented, message: "not_implemented", data: msgData("not implemented")}
}

func errInternal() *apiError {
	return &apiError{code: fasthttp.StatusInternalServerError, message: "internal_error", data: msgData("internal error")}
}

func errBodyTooLarge(limit int) *apiError {
	return &apiError{code: fasthttp.StatusRequestEntityTooLarge, message: "validation error",
		data: map[string]any{"file": map[string]any{"maxSize": map[string]any{
			"message": "Payload or Files must not be more than " + strconv.Itoa(limit) + " bytes",
			"target":  limit,
		}}}}
}

func errUnsupportedMedia(ct string) *apiError {
	return &apiError{code: fasthttp.StatusUnsupportedMediaType, message: "unsupported_media_type",
		data: map[string]any{"cause": ct, "message": "content type must be application/json"}}
}

// newRequestID makes Kazoo's 32-hex request id.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// requestID honours a sane client X-Request-ID. Anything else is replaced:
// the value is echoed in a response header and in logs.
func requestID(ctx *fasthttp.RequestCtx) string {
	v := ctx.Request.Header.Peek("X-Request-ID")
	if len(v) == 0 || len(v) > 128 {
		return newRequestID()
	}
	for _, c := range v {
		if c <= ' ' || c > '~' {
			return newRequestID()
		}
	}
	return string(v)
}

// writeJSON sends an envelope. Encoding cannot fail for our types; if it
// ever does, the client still gets a well-formed 500 envelope.
func writeJSON(ctx *fasthttp.RequestCtx, code int, env *envelope) {
	b, err := json.Marshal(env)
	if err != nil {
		code = fasthttp.StatusInternalServerError
		b, _ = json.Marshal(&envelope{Data: msgData("internal error"), Error: "500", Message: "internal_error",
			RequestID: env.RequestID, Status: "error"})
	}
	ctx.SetStatusCode(code)
	ctx.SetContentType("application/json")
	ctx.SetBody(b)
}

func writeReply(ctx *fasthttp.RequestCtx, token, reqID string, rp *reply) {
	if rp.written {
		return
	}
	code := rp.status
	if code == 0 {
		code = fasthttp.StatusOK
	}
	if rp.raw != nil {
		ctx.SetStatusCode(code)
		ctx.SetContentType(rp.contentType)
		ctx.SetBody(rp.raw)
		return
	}
	env := &envelope{AuthToken: token, Data: rp.data, RequestID: reqID, Status: "success"}
	switch {
	case rp.rev != "":
		env.Revision = rp.rev
		ctx.Response.Header.Set("ETag", strconv.Quote(rp.rev))
	case rp.list:
		env.Revision = dataMD5(rp.data)
	}
	if rp.page != nil {
		n := rp.page.size
		env.PageSize = &n
		env.StartKey = rp.page.startKey
		env.NextStartKey = rp.page.nextKey
	}
	writeJSON(ctx, code, env)
}

func writeError(ctx *fasthttp.RequestCtx, token, reqID string, e *apiError) {
	if e.allow != "" {
		ctx.Response.Header.Set("Allow", e.allow)
	}
	data := e.data
	if data == nil {
		data = map[string]any{}
	}
	writeJSON(ctx, e.code, &envelope{AuthToken: token, Data: data, Error: strconv.Itoa(e.code),
		Message: e.message, RequestID: reqID, Status: "error"})
}

// dataMD5 is the revision of a list answer: MD5 hex of its JSON.
func dataMD5(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}
