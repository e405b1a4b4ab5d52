package adminapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"strconv"
	"strings"
)

// jsonContentType accepts JSON media types and the form type curl sends by
// default, whose body Crossbar still parses as JSON. An absent type is
// taken as JSON, as Crossbar does.
func jsonContentType(ct string) bool {
	if strings.TrimSpace(ct) == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch {
	case mt == "application/json", mt == "application/x-json",
		mt == "application/x-www-form-urlencoded",
		strings.HasSuffix(mt, "+json"):
		return true
	}
	return false
}

// decodeBody reads the request envelope {"data":{...}} into r.doc.
// Errors use Crossbar's shapes: a JSON syntax error is a "json"/"invalid"
// validation error, a missing or non-object data a "data" one.
func decodeBody(r *request) *apiError {
	body := r.ctx.Request.Body()
	if len(bytes.TrimSpace(body)) == 0 {
		return errValidation(map[string]any{"data": map[string]any{"required": map[string]any{
			"message": "Field is required but missing"}}})
	}
	if ct := string(r.ctx.Request.Header.ContentType()); !jsonContentType(ct) {
		return errUnsupportedMedia(ct)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return errValidation(map[string]any{"json": map[string]any{"invalid": map[string]any{
			"message": jsonErrMessage(err), "target": "body"}}})
	}
	raw, ok := env["data"]
	if !ok {
		return errValidation(map[string]any{"data": map[string]any{"required": map[string]any{
			"message": "Field is required but missing"}}})
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return errValidation(map[string]any{"data": map[string]any{"type": map[string]any{
			"message": "Value did not match type(s): object", "target": "object"}}})
	}
	r.doc = doc
	return nil
}

// jsonErrMessage follows Kazoo's "<what> around <where>" wording.
func jsonErrMessage(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "All JSON must be valid: " + se.Error() + " around " + strconv.FormatInt(se.Offset, 10)
	case errors.As(err, &te):
		return "All JSON must be valid: request envelope must be an object"
	}
	return "All JSON must be valid"
}
