// Package adminapi is sipedge's provisioning API: a Kazoo (Crossbar v2)
// compatible REST interface on fasthttp for accounts, account tokens,
// devices, registrations and bans, plus /metrics, /livez, /readyz and the
// OpenAPI document at /v2/openapi.json.
//
// Answers use Crossbar's envelope and error shapes, so existing Kazoo
// tooling keeps working. The package owns only the HTTP layer: it reaches
// the device directory and the registrar through the small Directory and
// Registrar interfaces, and never imports the SIP stack's server.
package adminapi
