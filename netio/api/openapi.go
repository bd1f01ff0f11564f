package api

import _ "embed"

// openAPIDocument is the OpenAPI 3 description of the API, served at /v1/openapi.json
// and kept true by TestOpenAPIMatchesRoutes.
//
//go:embed openapi.json
var openAPIDocument []byte
