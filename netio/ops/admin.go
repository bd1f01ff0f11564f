package ops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"time"

	"github.com/valyala/fasthttp"

	"sequent/netio/jsonkeys"
)

// Reply is the body of every admin response and of every error response:
// {"ok":true,"action":"promote","epoch":4} or {"ok":false,"code":"forbidden","error":…}.
type Reply struct {
	// OK is true when the action ran and succeeded.
	OK bool `json:"ok"`
	// Action is the admin action (an Action* name); absent on errors outside /v1/admin.
	Action string `json:"action,omitempty"`
	// Epoch is the epoch after a successful promotion.
	Epoch uint64 `json:"epoch,omitempty"`
	// Level is the log level after a successful log-level change.
	Level string `json:"level,omitempty"`
	// Rules are the per-rule outcomes of a risk-set or risk-remove (OK: all accepted).
	Rules []RiskRuleResult `json:"rules,omitempty"`
	// Code names the failure (a Code* constant); absent when OK.
	Code string `json:"code,omitempty"`
	// Error says what went wrong, for a person; absent when OK.
	Error string `json:"error,omitempty"`
}

// Reply codes, each with the HTTP status it comes with.
const (
	CodeAddressNotAllowed = "address_not_allowed" // 403: the peer is not in AllowCIDRs.
	CodeNotFound          = "not_found"           // 404: no such endpoint.
	CodeMethodNotAllowed  = "method_not_allowed"  // 405: see the Allow header.
	CodeUnauthorized      = "unauthorized"        // 401: no bearer token.
	CodeForbidden         = "forbidden"           // 403: the token was not accepted.
	CodeBadRequest        = "bad_request"         // 400: bad level, query or body.
	CodeTooLarge          = "too_large"           // 413 body or 431 headers over bounds.
	CodeRequestTimeout    = "request_timeout"     // 408: the request came too slowly.
	CodeNotImplemented    = "not_implemented"     // 501: the wiring has no such action.
	CodeBusy              = "busy"                // 409: another admin action is running.
	CodeRefused           = "refused"             // 409: the action refused (ErrRefused).
	CodeAuditFailed       = "audit_failed"        // 503: no audit record; nothing done.
	CodeActionFailed      = "action_failed"       // 500: the action returned an error.
	CodeTimeout           = "timeout"             // 504: still running after actionTimeout.
	CodeInternal          = "internal"            // 500: the server's own failure.
	CodeRateLimited       = "rate_limited"        // 429: this address asks too often.
	CodeHostNotAllowed    = "host_not_allowed"    // 421: the Host header names another host.
)

// Outcomes of an admin action, as sequent_admin_actions_total labels them.
const (
	outcomeOK             = "ok"
	outcomeRefused        = "refused"
	outcomeFailed         = "failed"
	outcomeAuditFailed    = "audit_failed"
	outcomeTimeout        = "timeout"
	outcomeBusy           = "busy"
	outcomeNotImplemented = "not_implemented"
)

func reply(ctx *fasthttp.RequestCtx, statusCode int, body Reply) {
	writeJSON(ctx, statusCode, body)
}

// actionResult is what an admin action goroutine hands back to its handler.
type actionResult struct {
	statusCode int
	reply      Reply
	outcome    string
}

// handleAdmin serves one admin request: token, arguments, then the audited action.
// Refusals before the token is accepted are logged and counted, never audited: they
// change nothing.
func (s *Server) handleAdmin(ctx *fasthttp.RequestCtx, action string) {
	who, ok := s.authorize(ctx, action)
	if !ok {
		return
	}
	level, err := adminArguments(ctx, action)
	if err != nil {
		reply(ctx, fasthttp.StatusBadRequest, Reply{Action: action, Code: CodeBadRequest,
			Error: err.Error()})
		return
	}
	run := s.actionFunction(action, level)
	if run == nil {
		s.metrics.actions.WithLabelValues(action, outcomeNotImplemented).Inc()
		reply(ctx, fasthttp.StatusNotImplemented, Reply{Action: action,
			Code: CodeNotImplemented, Error: "this node does not offer " + action})
		return
	}
	record := AuditRecord{Who: who, Action: action, RemoteAddress: ctx.RemoteAddr().String(),
		TimeUnixNs: time.Now().UnixNano()}
	if level != "" {
		record.Detail = "level=" + level
	}
	result := s.runAction(record, run)
	s.metrics.actions.WithLabelValues(action, result.outcome).Inc()
	result.reply.Action = action
	reply(ctx, result.statusCode, result.reply)
}

// authorize checks the bearer token: none (or another scheme) is 401, one that
// Config.Tokens does not accept is 403, and so is a request with more than one
// Authorization header. It returns who holds the token.
//
// Authorization holds one credential (RFC 9110 §11.6.2); with two, fasthttp's Peek reads
// the first, where a proxy in front may check or log the last, or both: "Bearer <alice's
// token>" then "Bearer junk" ran the action as alice past a proxy that saw junk
// (TestHunt52aTwoAuthorizationHeadersAreRefused). Two are refused whatever they hold.
func (s *Server) authorize(ctx *fasthttp.RequestCtx, action string) (string, bool) {
	headers := ctx.Request.Header.PeekAll(fasthttp.HeaderAuthorization)
	if len(headers) > 1 {
		s.refuse(ctx, "wrong_token", slog.String("action", action),
			slog.Int("authorization_headers", len(headers)))
		reply(ctx, fasthttp.StatusForbidden, Reply{Action: action, Code: CodeForbidden,
			Error: "the token was not accepted: send one Authorization header"})
		return "", false
	}
	token, present := bearerToken(ctx.Request.Header.Peek(fasthttp.HeaderAuthorization))
	if !present {
		s.refuse(ctx, "no_token", slog.String("action", action))
		ctx.Response.Header.Set(fasthttp.HeaderWWWAuthenticate, `Bearer realm="sequent"`)
		reply(ctx, fasthttp.StatusUnauthorized, Reply{Action: action, Code: CodeUnauthorized,
			Error: "an admin bearer token is required (Authorization: Bearer <token>)"})
		return "", false
	}
	who, ok := "", false
	if token != "" && s.config.Tokens != nil {
		who, ok = s.config.Tokens(token)
	}
	if !ok {
		s.refuse(ctx, "wrong_token", slog.String("action", action))
		reply(ctx, fasthttp.StatusForbidden, Reply{Action: action, Code: CodeForbidden,
			Error: "the token was not accepted"})
		return "", false
	}
	return who, true
}

// bearerToken parses an Authorization header value. present is false when there is no
// header or it is not a Bearer credential; token is "" when the credential is present but
// malformed (empty, too long, characters outside RFC 6750's b64token), which the caller
// treats as a wrong token. The token is copied: the header bytes belong to fasthttp.
func bearerToken(header []byte) (token string, present bool) {
	const scheme = "bearer "
	if len(header) < len(scheme) || !bytes.EqualFold(header[:len(scheme)], []byte(scheme)) {
		return "", false
	}
	value := bytes.TrimSpace(header[len(scheme):])
	if len(value) == 0 || len(value) > tokenBytesMax {
		return "", true
	}
	for i, c := range value {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '.', c == '_', c == '~', c == '+', c == '/':
		case c == '=' && i > 0:
		default:
			return "", true
		}
	}
	return string(value), true
}

// adminArguments checks an admin request's query and body strictly and returns the log
// level for ActionLogLevel ("" for the others). The level comes from the query
// (?level=debug) or a JSON body ({"level":"debug"}), not both; other actions take no
// query and an empty body (or {}). Anything else is an error naming what was wrong, a
// "#" in the query too (checkQueryAsSent).
func adminArguments(ctx *fasthttp.RequestCtx, action string) (string, error) {
	if err := checkQueryAsSent(ctx); err != nil {
		return "", err
	}
	queryLevel, err := queryArguments(ctx.QueryArgs(), action == ActionLogLevel)
	if err != nil {
		return "", err
	}
	body := ctx.PostBody()
	if len(bytes.TrimSpace(body)) != 0 {
		mediaType, _, err := mime.ParseMediaType(string(ctx.Request.Header.ContentType()))
		if err != nil || mediaType != contentTypeJSON {
			return "", errors.New("a request body must be JSON (Content-Type: application/json)")
		}
	}
	if action != ActionLogLevel {
		if len(bytes.TrimSpace(body)) != 0 && decodeStrict(body, &struct{}{}) != nil {
			return "", fmt.Errorf("%s takes no arguments (send no body or {})", action)
		}
		return "", nil
	}
	bodyLevel := ""
	if len(bytes.TrimSpace(body)) != 0 {
		if bodyLevel, err = parseLevelBody(body); err != nil {
			return "", err
		}
	}
	switch {
	case queryLevel != "" && bodyLevel != "":
		return "", errors.New("give the level in the query or the body, not both")
	case queryLevel == "" && bodyLevel == "":
		return "", errors.New("no level: send ?level=LEVEL or {\"level\":\"LEVEL\"}")
	case queryLevel != "":
		return checkLevel(queryLevel)
	}
	return checkLevel(bodyLevel)
}

// queryArguments accepts no query, or (when levelAllowed) exactly one "level" argument,
// and returns its value (copied).
func queryArguments(args *fasthttp.Args, levelAllowed bool) (string, error) {
	if args.Len() == 0 {
		return "", nil
	}
	if !levelAllowed {
		return "", errors.New("this action takes no query arguments")
	}
	if args.Len() != 1 || !args.Has("level") {
		return "", errors.New("the only query argument is level")
	}
	level := string(args.Peek("level"))
	if level == "" {
		return "", errors.New("level is empty")
	}
	return level, nil
}

// parseLevelBody parses exactly {"level":"…"}: one object, one key, a string value,
// nothing after it. Duplicate or unknown keys are errors (encoding/json would quietly
// keep the last duplicate), and so is the key written with an escape ("\u006cevel"), as
// jsonkeys.Check refuses it in every other body (TestHunt52cLevelBodyKeyWrittenPlain).
func parseLevelBody(body []byte) (string, error) {
	wrong := errors.New(`the body must be {"level":"debug|info|warn|error"}`)
	if jsonkeys.Check(body) != nil {
		return "", wrong
	}
	decoder := json.NewDecoder(bytes.NewReader(body))
	expect := func(want json.Token) bool {
		token, err := decoder.Token()
		return err == nil && token == want
	}
	if !expect(json.Delim('{')) || !expect("level") {
		return "", wrong
	}
	token, err := decoder.Token()
	level, isString := token.(string)
	if err != nil || !isString || level == "" {
		return "", wrong
	}
	if !expect(json.Delim('}')) {
		return "", wrong
	}
	if _, err := decoder.Token(); err != io.EOF {
		return "", wrong
	}
	return level, nil
}

// checkLevel returns the canonical name of an accepted log level (exact, lower case).
func checkLevel(level string) (string, error) {
	for _, name := range logLevels {
		if level == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("level %q is not one of debug, info, warn, error", truncate(level, 32))
}

// actionFunction returns the action to run for a request, or nil when the wiring
// provides none. The returned function runs on the action goroutine.
func (s *Server) actionFunction(action, level string) func() (Reply, error) {
	switch action {
	case ActionPromote:
		if promote := s.sources.Promote; promote != nil {
			return func() (Reply, error) {
				epoch, err := promote()
				return Reply{OK: err == nil, Epoch: epoch}, err
			}
		}
	case ActionSnapshot:
		return plainAction(s.sources.SnapshotNow)
	case ActionReloadKeys:
		return plainAction(s.sources.ReloadKeys)
	case ActionLogLevel:
		if set := s.sources.SetLogLevel; set != nil {
			return func() (Reply, error) {
				err := set(level)
				return Reply{OK: err == nil, Level: level}, err
			}
		}
	}
	return nil
}

func plainAction(action func() error) func() (Reply, error) {
	if action == nil {
		return nil
	}
	return func() (Reply, error) {
		err := action()
		return Reply{OK: err == nil}, err
	}
}

// runAction writes the audit record and then runs the action, on a goroutine of its own,
// and waits at most s.timeout (actionTimeout) for both. One admin action runs at a time:
// a request that arrives meanwhile gets 409 busy. The goroutine holds the slot until the
// action returns, even after its handler has given up waiting, so a stuck action cannot
// pile up others.
func (s *Server) runAction(record AuditRecord, run func() (Reply, error)) actionResult {
	if !s.acting.CompareAndSwap(false, true) {
		return actionResult{fasthttp.StatusConflict, Reply{Code: CodeBusy,
			Error: "another admin action is running; try again"}, outcomeBusy}
	}
	results := make(chan actionResult, 1) // Buffered: the goroutine never waits for us.
	s.actions.Add(1)
	go func() {
		defer s.actions.Done()
		result := s.audited(record, run)
		// Free the slot before handing the result over: a client that sends its next
		// action as soon as this one is answered must not find it busy.
		s.acting.Store(false)
		results <- result
	}()
	timeout := time.Duration(s.timeout.Load())
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case result := <-results:
		return result
	case <-timer.C:
		s.logger.Error("ops: admin action still running", "action", record.Action,
			"who", record.Who, "waited", timeout.String())
		return actionResult{fasthttp.StatusGatewayTimeout, Reply{Code: CodeTimeout,
			Error: "the action is still running; check /v1/status"}, outcomeTimeout}
	}
}

// audited writes the audit record and, only if that worked, runs the action (fail
// closed: an action nobody can trace does not happen).
func (s *Server) audited(record AuditRecord, run func() (Reply, error)) actionResult {
	attributes := []any{"action", record.Action, "who", record.Who, "detail", record.Detail,
		"remote", record.RemoteAddress}
	if err := s.sources.Audit(record); err != nil {
		s.logger.Error("ops: admin action not run: audit record not written",
			append(attributes, "error", err.Error())...)
		return actionResult{fasthttp.StatusServiceUnavailable, Reply{Code: CodeAuditFailed,
			Error: "audit record not written, nothing done: " + err.Error()},
			outcomeAuditFailed}
	}
	result, err := run()
	switch {
	case err == nil:
		s.logger.Info("ops: admin action done", attributes...)
		return actionResult{fasthttp.StatusOK, result, outcomeOK}
	case errors.Is(err, ErrRefused):
		s.logger.Warn("ops: admin action refused", append(attributes, "error", err.Error())...)
		return actionResult{fasthttp.StatusConflict, Reply{Code: CodeRefused,
			Error: err.Error()}, outcomeRefused}
	default:
		s.logger.Error("ops: admin action failed", append(attributes, "error", err.Error())...)
		return actionResult{fasthttp.StatusInternalServerError, Reply{Code: CodeActionFailed,
			Error: err.Error()}, outcomeFailed}
	}
}
