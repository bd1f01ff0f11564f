package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/valyala/fasthttp"

	"sequent/core/backend"
	"sequent/core/model"
	"sequent/core/shardmap"
	"sequent/netio/client"
	"sequent/netio/httppath"
	"sequent/netio/jsonkeys"
	"sequent/netio/jsonview"
)

// decodeOneOrMany decodes a body that is one JSON object or an array of them, strictly
// (unknown fields and trailing data are refused). single says which it was.
func decodeOneOrMany[T any](body []byte) (items []T, single bool, err error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false, errors.New("the body is empty: send a JSON object or an array")
	}
	single = trimmed[0] == '{'
	if single {
		var item T
		err = decodeStrict(trimmed, &item)
		return []T{item}, true, err
	}
	err = decodeStrict(trimmed, &items)
	return items, false, err
}

// decodeStrict decodes exactly one JSON value with no unknown fields and nothing after,
// whose keys are exact (checkKeys).
func decodeStrict(data []byte, target any) error {
	if err := checkKeys(data); err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(target); err != nil {
		return err
	}
	// Only JSON's insignificant whitespace may follow the value. (Asking the decoder for
	// a next token is not enough: a stray ']' or '}' comes back as an error, which would
	// read as "nothing left", and {"id":"1"}] would be accepted.)
	for _, c := range data[decoder.InputOffset():] {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return errors.New("data after the JSON value")
		}
	}
	return nil
}

// checkKeys refuses a JSON text with an object key that is not a field name (empty, or
// not all of [a-z0-9_]: every field the API takes is so named) or that appears twice in
// one object (after unescaping). encoding/json matches keys case-insensitively, with Unicode folding, and
// keeps the last of duplicates; a proxy, gateway or risk filter in front of Sequent
// usually reads them exactly, and one body would then say two things (a differential on
// money: {"amount":"1","Amount":"1000000"}). A key written with an escape
// ("\u0061mount") is refused too: every JSON parser reads it as the field, a pattern or a
// person reading the raw body does not. Syntax errors are left to the decoder.
func checkKeys(data []byte) error {
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber() // No float parsing: values are not looked at.
	type level struct {
		object    bool
		expectKey bool
		keys      []string
		elements  int // Of an array.
	}
	var stack []level
	for {
		before := decoder.InputOffset()
		token, err := decoder.Token()
		if err != nil {
			return nil // io.EOF, or a syntax error the decoder reports.
		}
		top := len(stack) - 1
		if closing := token == json.Delim(']'); top >= 0 && !stack[top].object && !closing {
			// A value in an array: an array longer than a request's events cannot be
			// valid, and decoding one into records costs some hundred bytes per element
			// (a 4 MiB body of {} held ~190 MB of empty transfers before checkCount).
			if stack[top].elements++; stack[top].elements > model.EventsPerRequestMax {
				return errTooManyElements
			}
		}
		switch value := token.(type) {
		case json.Delim:
			switch value {
			case '{', '[':
				if len(stack) == jsonDepthMax {
					return fmt.Errorf("json: nested more than %d deep", jsonDepthMax)
				}
				stack = append(stack, level{object: value == '{', expectKey: value == '{'})
			default:
				stack = stack[:top]
				if top > 0 && stack[top-1].object {
					stack[top-1].expectKey = true
				}
			}
		case string:
			if top >= 0 && stack[top].object && stack[top].expectKey {
				if len(stack[top].keys) == objectKeysMax {
					return fmt.Errorf("json: an object of more than %d keys", objectKeysMax)
				}
				if err := checkKey(value, stack[top].keys); err != nil {
					return err
				}
				// The token took white space, a comma and the quoted key: a backslash is
				// an escape in the key, refused as jsonkeys.Check refuses it.
				if bytes.IndexByte(data[before:decoder.InputOffset()], '\\') >= 0 {
					return fmt.Errorf("json: key %q written with an escape: write keys as "+
						"plain field names", jsonkeys.Truncate(value, jsonkeys.KeyShownBytesMax))
				}
				stack[top].keys = append(stack[top].keys, value)
				stack[top].expectKey = false
				continue
			}
			if top >= 0 && stack[top].object {
				stack[top].expectKey = true
			}
		default:
			if top >= 0 && stack[top].object {
				stack[top].expectKey = true
			}
		}
	}
}

// errTooManyElements is checkKeys's refusal of an array of more elements than a request
// has events (answered too_many_events, as checkCount would).
var errTooManyElements = fmt.Errorf("json: an array of more than %d elements",
	model.EventsPerRequestMax)

// checkKey refuses a key that is not a field name (empty, or outside [a-z0-9_]) or one
// already in keys. The rule is jsonkeys.FieldName, the one netio/ops, the keys file and
// the ledgers file apply, so a body is read alike at every door
// (TestHunt52cKeyCheckersAgree).
func checkKey(key string, keys []string) error {
	if !jsonkeys.FieldName(key) {
		return fmt.Errorf("json: key %q: keys are lowercase field names, exactly",
			jsonkeys.Truncate(key, jsonkeys.KeyShownBytesMax))
	}
	for _, seen := range keys {
		if seen == key {
			return fmt.Errorf("json: key %q given twice",
				jsonkeys.Truncate(key, jsonkeys.KeyShownBytesMax))
		}
	}
	return nil
}

// badRequest answers 400 for a body or query that does not parse.
func (r *request) badRequest(err error) {
	if errors.Is(err, errTooManyElements) {
		r.statusRefusal(model.StatusTooManyEvents)
		return
	}
	r.server.refuse(r.ctx, fasthttp.StatusBadRequest, "bad_request", jsonkeys.Truncate(err.Error(), 512))
}

// checkCount refuses a batch of no event or more than the protocol allows.
func (r *request) checkCount(count int) bool {
	switch {
	case count == 0:
		r.statusRefusal(model.StatusEmptyRequest)
		return false
	case count > model.EventsPerRequestMax:
		r.statusRefusal(model.StatusTooManyEvents)
		return false
	}
	return true
}

// replyStatus checks a reply's request-level status, answering a refusal itself.
func (r *request) replyStatus(reply *answer) bool {
	r.writeAnswerHeaders(reply)
	if reply.status != model.StatusOK {
		r.statusRefusal(reply.status)
		return false
	}
	return true
}

func (r *request) createAccounts() {
	items, single, err := decodeOneOrMany[jsonview.Account](r.body)
	if err != nil {
		r.badRequest(err)
		return
	}
	if !r.checkCount(len(items)) {
		return
	}
	body := make([]byte, len(items)*model.AccountSize)
	ids := make([]model.Uint128, len(items))
	for i := range items {
		account, err := items[i].Model()
		if err != nil {
			r.badRequest(fmt.Errorf("account %d: %v", i, err))
			return
		}
		ids[i] = account.ID
		account.Encode(body[i*model.AccountSize:])
	}
	reply, ok := r.submit(model.OperationCreateAccounts, 0, body, len(items))
	if !ok || !r.replyStatus(&reply) {
		return
	}
	results := make([]jsonview.Result, len(items))
	for i := range results {
		var result model.EventResult
		result.Decode(reply.body[i*model.EventResultSize:])
		results[i] = jsonview.NewResult(ids[i], &result)
	}
	r.writeResults(results, single)
}

func (r *request) createTransfers() {
	items, single, err := decodeOneOrMany[jsonview.Transfer](r.body)
	if err != nil {
		r.badRequest(err)
		return
	}
	transfers := make([]model.Transfer, len(items))
	for i := range items {
		if transfers[i], err = items[i].Model(); err != nil {
			r.badRequest(fmt.Errorf("transfer %d: %v", i, err))
			return
		}
	}
	r.sendTransfers(transfers, single)
}

// sendTransfers submits transfers as one create_transfers request (with balances, for
// the risk rules' explanations) and answers their results.
func (r *request) sendTransfers(transfers []model.Transfer, single bool) {
	if !r.checkCount(len(transfers)) {
		return
	}
	results, ok := r.sendTransfersRaw(transfers)
	if ok {
		r.writeResults(results, single)
	}
}

func (r *request) sendTransfersRaw(transfers []model.Transfer) ([]jsonview.Result, bool) {
	if !r.admit(model.OperationCreateTransfers, len(transfers)) {
		return nil, false
	}
	return r.sendTransfersAdmitted(transfers)
}

// sendTransfersAdmitted is sendTransfersRaw once the client's permission and rate limits
// have been checked.
func (r *request) sendTransfersAdmitted(transfers []model.Transfer) ([]jsonview.Result, bool) {
	body := make([]byte, len(transfers)*model.TransferSize)
	for i := range transfers {
		transfers[i].Encode(body[i*model.TransferSize:])
	}
	reply, ok := r.submitAdmitted(model.OperationCreateTransfers,
		backend.RequestFlagReplyBalances, body)
	if !ok || !r.replyStatus(&reply) {
		return nil, false
	}
	results := make([]jsonview.Result, len(transfers))
	for i := range results {
		var result model.TransferResult
		result.DecodeWithBalances(reply.body[i*model.EventResultBalancesSize:])
		results[i] = jsonview.NewTransferResult(transfers[i].ID, &result)
	}
	return results, true
}

// writeResults answers a batch with the array of results (200), and one event with its
// result and an HTTP status that says what happened: 201 created, 200 exists (an
// identical object already existed: a retry that was already applied), 202 held for
// review (created, pending, awaiting an operator), 422 refused (the status says why).
func (r *request) writeResults(results []jsonview.Result, single bool) {
	if !single {
		writeJSON(r.ctx, fasthttp.StatusOK, results)
		return
	}
	statusCode := fasthttp.StatusUnprocessableEntity
	switch model.Status(results[0].Code) {
	case model.StatusOK:
		statusCode = fasthttp.StatusCreated
	case model.StatusExists:
		statusCode = fasthttp.StatusOK
	case model.StatusRiskHeldForReview:
		statusCode = fasthttp.StatusAccepted
	}
	writeJSON(r.ctx, statusCode, results[0])
}

// resolveBody is the body of POST /v1/transfers/{id}/post and …/void: the new transfer's
// id (required: it makes the resolution idempotent) and, for a post, an amount (absent:
// the whole pending amount) and optional user data and code.
type resolveBody struct {
	ID     string `json:"id"`
	Amount string `json:"amount,omitempty"`
	// DebitAccountID and Ledger place the post or void on a node of several shards,
	// which routes it to the shard of the debit account it names (ledger placement: of
	// the ledger), and refuses one naming none with placement_field_missing (PROTOCOL.md
	// section 18). Absent, they are 0, which matches the pending transfer's; given, they
	// must equal its fields (section 10). When the node refuses a post or void so,
	// resolve looks the pending transfer up and sends it again with the fields it lacked
	// taken from the record found.
	DebitAccountID string `json:"debit_account_id,omitempty"`
	Ledger         uint32 `json:"ledger,omitempty"`
	UserData128    string `json:"user_data_128,omitempty"`
	UserData64     uint64 `json:"user_data_64,omitempty"`
	UserData32     uint32 `json:"user_data_32,omitempty"`
	Code           uint16 `json:"code,omitempty"`
}

func (r *request) postTransfer() { r.resolve(model.TransferPostPending) }
func (r *request) voidTransfer() { r.resolve(model.TransferVoidPending) }

func (r *request) resolve(flag uint16) {
	pendingID, err := jsonview.ParseID("pending transfer id", r.parameters[0])
	if err != nil {
		r.badRequest(err)
		return
	}
	var body resolveBody
	if err := decodeStrict(r.body, &body); err != nil {
		r.badRequest(fmt.Errorf(`the body must be {"id": "…"} (and for a post optionally "amount"; on a node of several shards "debit_account_id"): %v`, err))
		return
	}
	if body.Amount == "" && flag == model.TransferPostPending {
		body.Amount = "max"
	}
	view := jsonview.Transfer{ID: body.ID, Amount: body.Amount, UserData128: body.UserData128,
		UserData64: body.UserData64, UserData32: body.UserData32, Code: body.Code,
		DebitAccountID: body.DebitAccountID, Ledger: body.Ledger}
	transfer, err := view.Model()
	if err != nil {
		r.badRequest(err)
		return
	}
	if transfer.ID.IsZero() {
		r.badRequest(errors.New("id: the new transfer's id is required"))
		return
	}
	transfer.PendingID, transfer.Flags = pendingID, flag
	transfers := []model.Transfer{transfer}
	results, ok := r.sendTransfersRaw(transfers)
	if !ok {
		return
	}
	if results[0].Code == uint32(model.StatusPlacementFieldMissing) {
		// A node of several shards routes a post or void by the fields the body left out:
		// take them from the pending transfer. The node refused the first attempt itself,
		// recording nothing (PROTOCOL.md section 18, "Refused by the node"), so sending
		// again is a first attempt, under an Idempotency-Key too; an id not found (or
		// not one this client may read), or found on several shards without a retry to
		// place it (placePending), keeps the refusal.
		if placed, found, ok := r.placePending(&transfer); !ok {
			return
		} else if found {
			transfers[0] = placed
			if results, ok = r.sendTransfersAdmitted(transfers); !ok {
				return
			}
		}
	}
	r.writeResults(results, true)
}

// placePending looks up the pending transfer a post or void names and returns the post
// or void with the placement fields it left at 0 (debit account, ledger) taken from it;
// found is false when the lookup found no record, or several (a transfer id two shards
// each use) and no single post or void of it with the new transfer's id (a retry of one
// applied: its shard answers it as a retry). The lookups are part of the request already
// admitted: it is not charged again, and a refusal of one answers the request (nothing
// was written).
func (r *request) placePending(resolving *model.Transfer) (placed model.Transfer,
	found, ok bool) {
	submits := 0
	records, ok := r.readRecords(model.OperationLookupTransfers, model.TransferSize,
		[]model.Uint128{resolving.PendingID}, nil, &submits)
	if !ok {
		return model.Transfer{}, false, false
	}
	var source model.Transfer // The record whose fields place the post or void.
	if len(records) == model.TransferSize {
		source.Decode(records)
	} else if len(records) > model.TransferSize {
		// Several shards use the pending id. A retry of this post or void that was
		// applied finds the transfer it created, stored with the pending transfer's
		// fields: sent to its shard, it is answered as a retry there (under an
		// Idempotency-Key from the cache, else exists), where that id exists, so nothing
		// new is ever applied (TestReviewlf48ResolveRetryAfterIDReusedElsewhere).
		submits = 0
		records, ok = r.readRecords(model.OperationLookupTransfers, model.TransferSize,
			[]model.Uint128{resolving.ID}, nil, &submits)
		if !ok {
			return model.Transfer{}, false, false
		}
		matches := 0
		for offset := 0; offset+model.TransferSize <= len(records); offset +=
			model.TransferSize {
			var created model.Transfer
			created.Decode(records[offset:])
			if created.PendingID == resolving.PendingID {
				source, matches = created, matches+1
			}
		}
		if matches != 1 {
			return model.Transfer{}, false, true
		}
	} else {
		return model.Transfer{}, false, true
	}
	placed = *resolving
	if placed.DebitAccountID.IsZero() {
		placed.DebitAccountID = source.DebitAccountID
	}
	if placed.Ledger == 0 {
		placed.Ledger = source.Ledger
	}
	return placed, true, true
}

// idsBody is the body of the lookup routes.
type idsBody struct {
	IDs []string `json:"ids"`
}

func (r *request) lookupAccounts()  { r.lookup(model.OperationLookupAccounts) }
func (r *request) lookupTransfers() { r.lookup(model.OperationLookupTransfers) }

func (r *request) lookup(operation model.Operation) {
	var body idsBody
	if err := decodeStrict(r.body, &body); err != nil {
		r.badRequest(fmt.Errorf(`the body must be {"ids": ["…", …]}: %w`, err))
		return
	}
	if !r.checkCount(len(body.IDs)) {
		return
	}
	ids := make([]model.Uint128, len(body.IDs))
	for i, text := range body.IDs {
		id, err := jsonview.ParseID("ids", text)
		if err != nil {
			r.badRequest(err)
			return
		}
		ids[i] = id
	}
	if records, ok := r.read(operation, ids); ok {
		writeJSON(r.ctx, fasthttp.StatusOK, records)
	}
}

func (r *request) getAccount()  { r.getOne(model.OperationLookupAccounts, "account_not_found") }
func (r *request) getTransfer() { r.getOne(model.OperationLookupTransfers, "transfer_not_found") }

// getOne answers the one record of an id: 404 when there is none, and 409
// ambiguous_id when there are several (on a node of several shards a transfer id two
// shards each use, or a settlement account with both its copies: PROTOCOL.md section 18),
// which the lookup route lists, rather than one of them as if it were the only one.
func (r *request) getOne(operation model.Operation, missing string) {
	id, err := jsonview.ParseID("id", r.parameters[0])
	if err != nil {
		r.badRequest(err)
		return
	}
	records, ok := r.read(operation, []model.Uint128{id})
	if !ok {
		return
	}
	count := 0
	switch found := records.(type) {
	case []jsonview.Account:
		if count = len(found); count == 1 {
			writeJSON(r.ctx, fasthttp.StatusOK, found[0])
			return
		}
	case []jsonview.Transfer:
		if count = len(found); count == 1 {
			writeJSON(r.ctx, fasthttp.StatusOK, found[0])
			return
		}
	}
	if count > 1 {
		r.server.refuse(r.ctx, fasthttp.StatusConflict, "ambiguous_id", fmt.Sprintf(
			"%d records have this id (one per shard that uses it): POST %s/lookup with "+
				`{"ids": ["%s"]} lists them all`, count, collection(operation), id))
		return
	}
	r.server.refuse(r.ctx, fasthttp.StatusNotFound, missing,
		"no such id (or not one this client may read)")
}

// collection is the path of a lookup operation's records.
func collection(operation model.Operation) string {
	if operation == model.OperationLookupAccounts {
		return "/v1/accounts"
	}
	return "/v1/transfers"
}

// read looks ids up and decodes the records found, in the order of ids. The client's
// permission and rate limits are checked once, for len(ids) events: on a node of several
// shards the node may cut its reply (PROTOCOL.md section 18, "Lookups on several
// shards"), and readRecords then asks again for ids of this request, already paid for.
func (r *request) read(operation model.Operation, ids []model.Uint128) (any, bool) {
	if !r.admit(operation, len(ids)) {
		return nil, false
	}
	info, _ := operation.Info()
	submits := 0
	records, ok := r.readRecords(operation, info.ResultSize, ids, nil, &submits)
	if !ok {
		return nil, false
	}
	switch operation {
	case model.OperationLookupAccounts:
		accounts := make([]jsonview.Account, len(records)/model.AccountSize)
		for i := range accounts {
			var account model.Account
			account.Decode(records[i*model.AccountSize:])
			accounts[i] = jsonview.NewAccount(&account)
		}
		return accounts, true
	default:
		transfers := make([]jsonview.Transfer, len(records)/model.TransferSize)
		for i := range transfers {
			var transfer model.Transfer
			transfer.Decode(records[i*model.TransferSize:])
			transfers[i] = jsonview.NewTransfer(&transfer)
		}
		return transfers, true
	}
}

// readRecords submits a lookup of ids and appends the records found to records, asking
// again, as shardmap.LookupRestart says, for the ids a cut reply left out (the ids after
// the last one it lists, or, when that id was asked more than once, all of them in two
// halves, the cut reply dropped): a reply taken as whole when cut answered ids that exist
// as missing (TestReviewle47LookupRouteGivesEveryTransferFound). Each list asked again is
// strictly shorter than the one before it, so this ends. On a node of two shards a
// request makes at most 7 submits (one id on both shards asked 8,189 times takes 7:
// TestTwoShardLookupNeedsAtMostSevenSubmits). A reply is taken as maybe cut from
// shardmap.LookupCutRecordsMin (7,934) records, and n ids have at most 2n records, so a
// list of up to 3,966 ids (a quarter of the request, say) takes one submit. A half (up to
// 4,095 ids) takes at most 3: its reply dropped, one per quarter; kept, the ids after it
// have at most 256 records, one more. The whole request takes at most 1 + 3 + 3: its
// reply dropped, each half's; kept, the ids after it (at most 4,222, with at most 8,444
// records) take at most 3 more. Each submit asks for at most the request's ids. Each submit takes its place among the requests in flight and has its
// own ReplyTimeout; any refusal answers the whole HTTP request (a read: retrying it is
// safe). On more shards the repeats could be many more: past lookupSubmitsMax submits or
// lookupRecordsMax records the request is refused 422 too_many_records (submits counts
// the submits of the whole request).
func (r *request) readRecords(operation model.Operation, size int, ids []model.Uint128,
	records []byte, submits *int) ([]byte, bool) {
	for len(ids) > 0 {
		if *submits == lookupSubmitsMax || len(records)/size > lookupRecordsMax {
			r.tooManyRecords()
			return nil, false
		}
		*submits++
		body := make([]byte, len(ids)*model.IDSize)
		for i := range ids {
			ids[i].PutLE(body[i*model.IDSize:])
		}
		reply, ok := r.submitAdmitted(operation, 0, body)
		if !ok || !r.replyStatus(&reply) {
			return nil, false
		}
		from, halves := shardmap.LookupRestart(ids, reply.body, size)
		if halves {
			half := len(ids) / 2
			if records, ok = r.readRecords(operation, size, ids[:half], records, submits); !ok {
				return nil, false
			}
			ids = ids[half:]
			continue
		}
		records = append(records, reply.body...)
		ids = ids[from:]
	}
	if len(records)/size > lookupRecordsMax {
		r.tooManyRecords()
		return nil, false
	}
	return records, true
}

// tooManyRecords refuses a lookup whose ids have more records than one HTTP request
// answers (lookupSubmitsMax, lookupRecordsMax).
func (r *request) tooManyRecords() {
	r.server.refuse(r.ctx, fasthttp.StatusUnprocessableEntity, "too_many_records",
		fmt.Sprintf("the ids asked have more records on this node's shards than one request "+
			"answers (%d lookups of the node, %d records): ask fewer ids at a time",
			lookupSubmitsMax, lookupRecordsMax))
}

func (r *request) accountTransfers() { r.accountQuery(model.OperationGetAccountTransfers) }
func (r *request) accountBalances()  { r.accountQuery(model.OperationGetAccountBalances) }

// accountQuery serves an account's transfers or balance history, a page at a time:
// ?limit=N (1..8189, default 100), order=newest (default) or oldest, before=T (newest
// first: only timestamps below T) or after=T (oldest first: above T), side=both
// (default), debits or credits, code=N. The body is the array of records; when the page
// is full, a Link header (rel="next") gives the next page's URI.
func (r *request) accountQuery(operation model.Operation) {
	id, err := jsonview.ParseID("account id", r.parameters[0])
	if err != nil {
		r.badRequest(err)
		return
	}
	// A request target has no fragment: a "#" is part of the query as sent, which
	// fasthttp cuts there, dropping the rest (TestReview50APIEscapeFragmentInAQuery). The
	// path's "#" made no route or no id before this.
	query := httppath.Query(r.ctx)
	if bytes.IndexByte(query, '#') >= 0 {
		r.badRequest(httppath.ErrFragmentInQuery)
		return
	}
	// fasthttp decodes names ("%6Cimit" is "limit"), so "?%6Cimit=1" served one record
	// where a proxy rule or a log matching names as sent sees an argument it does not
	// know and the default limit (TestAPIQuery50EscapedArgumentNameIsRefused). No
	// listing's argument name needs an escape, so a name with one is refused; a value's
	// escapes are decoded as before. The operators' port refuses such names the same way
	// (netio/ops checkQueryAsSent).
	if name := httppath.EscapedName(query); name != nil {
		r.badRequest(fmt.Errorf("query argument %q: an argument name is sent unescaped", name))
		return
	}
	filter, err := parseFilter(r.ctx.QueryArgs())
	if err != nil {
		r.badRequest(err)
		return
	}
	filter.AccountID = id
	body := make([]byte, model.AccountFilterSize)
	filter.Encode(body)
	reply, ok := r.submit(operation, 0, body, 1)
	if !ok {
		return
	}
	r.writeAnswerHeaders(&reply)
	switch reply.status {
	case model.StatusOK:
	case model.StatusAccountHistoryNotEnabled:
		r.server.refuse(r.ctx, fasthttp.StatusConflict, reply.status.String(),
			"the account was not created with the history flag")
		return
	default:
		r.statusRefusal(reply.status)
		return
	}
	var last uint64
	var records any
	count := 0
	if operation == model.OperationGetAccountTransfers {
		transfers := make([]jsonview.Transfer, len(reply.body)/model.TransferSize)
		count = len(transfers)
		for i := range transfers {
			var transfer model.Transfer
			transfer.Decode(reply.body[i*model.TransferSize:])
			transfers[i], last = jsonview.NewTransfer(&transfer), transfer.Timestamp
		}
		records = transfers
	} else {
		balances := make([]jsonview.Balance, len(reply.body)/model.AccountBalanceSize)
		count = len(balances)
		for i := range balances {
			var balance model.AccountBalance
			balance.Decode(reply.body[i*model.AccountBalanceSize:])
			balances[i], last = jsonview.NewBalance(&balance), balance.Timestamp
		}
		records = balances
	}
	if count == int(filter.Limit) && count > 0 {
		r.ctx.Response.Header.Set("Link", "<"+nextPage(r.ctx, filter, last)+`>; rel="next"`)
	}
	writeJSON(r.ctx, fasthttp.StatusOK, records)
}

// parseFilter reads the listing's query into an AccountFilter (account id left 0). An
// argument given twice is refused, as checkKeys refuses a JSON key given twice: fasthttp
// visits every repeat (its key decoded), and keeping the last would serve another query
// than a proxy or log reading the first sees (TestReview50APIEscapeRepeatedQueryArgument).
func parseFilter(args *fasthttp.Args) (model.AccountFilter, error) {
	filter := model.AccountFilter{Limit: pageLimitDefault, Flags: model.FilterDebits |
		model.FilterCredits | model.FilterReversed}
	var problem error
	var given []string // The arguments read so far: six known names, then an error.
	args.VisitAll(func(key, value []byte) {
		if problem != nil {
			return
		}
		for _, earlier := range given {
			if earlier == string(key) {
				problem = fmt.Errorf("query argument %q given twice", key)
				return
			}
		}
		given = append(given, string(key))
		number := func(bits int) uint64 {
			n, ok := parseDecimal(value, bits)
			if !ok {
				problem = fmt.Errorf("%s=%q: want a decimal number", key, value)
			}
			return n
		}
		switch string(key) {
		case "limit":
			filter.Limit = uint32(number(32))
		case "order":
			switch string(value) {
			case "newest":
				filter.Flags |= model.FilterReversed
			case "oldest":
				filter.Flags &^= model.FilterReversed
			default:
				problem = fmt.Errorf("order=%q: want newest or oldest", value)
			}
		case "before":
			// Only timestamps below before: TimestampMax = before − 1, where 0 means no
			// bound, so before=0 and before=1 (nothing is below them) ask for at most 1,
			// which no timestamp is (the core's are nanoseconds since 1970).
			filter.TimestampMax = max(number(63), 2) - 1
		case "after":
			filter.TimestampMin = number(63) + 1
		case "side":
			switch string(value) {
			case "both":
				filter.Flags |= model.FilterDebits | model.FilterCredits
			case "debits":
				filter.Flags &^= model.FilterCredits
			case "credits":
				filter.Flags &^= model.FilterDebits
			default:
				problem = fmt.Errorf("side=%q: want both, debits or credits", value)
			}
		case "code":
			filter.Code = uint16(number(16))
		default:
			problem = fmt.Errorf("unknown query argument %q", key)
		}
	})
	if problem == nil && (filter.Limit == 0 || filter.Limit > model.EventsPerRequestMax) {
		problem = fmt.Errorf("limit %d: want 1 to %d", filter.Limit, model.EventsPerRequestMax)
	}
	return filter, problem
}

// nextPage returns the URI of the page after the one that ended at timestamp last.
func nextPage(ctx *fasthttp.RequestCtx, filter model.AccountFilter, last uint64) string {
	query := url.Values{}
	query.Set("limit", strconv.FormatUint(uint64(filter.Limit), 10))
	if filter.Flags&model.FilterReversed != 0 {
		query.Set("order", "newest")
		query.Set("before", strconv.FormatUint(last, 10))
	} else {
		query.Set("order", "oldest")
		query.Set("after", strconv.FormatUint(last, 10))
	}
	switch filter.Flags & (model.FilterDebits | model.FilterCredits) {
	case model.FilterDebits:
		query.Set("side", "debits")
	case model.FilterCredits:
		query.Set("side", "credits")
	}
	if filter.Code != 0 {
		query.Set("code", strconv.FormatUint(uint64(filter.Code), 10))
	}
	return string(ctx.Path()) + "?" + query.Encode()
}

// ConversionRequest is the body of POST /v1/conversions: what `sequent client convert`
// takes as flags. Give exactly one of amount (the payer pays exactly this) and receive
// (the payee receives exactly this); target_id defaults to id + 1.
type ConversionRequest struct {
	ID              string `json:"id"`
	TargetID        string `json:"target_id,omitempty"`
	Payer           string `json:"payer"`
	Payee           string `json:"payee"`
	SourceLiquidity string `json:"source_liquidity"`
	TargetLiquidity string `json:"target_liquidity"`
	SourceLedger    uint32 `json:"source_ledger"`
	TargetLedger    uint32 `json:"target_ledger"`
	SourceScale     uint8  `json:"source_scale"`
	TargetScale     uint8  `json:"target_scale"`
	Rate            string `json:"rate"`
	QuoteID         string `json:"quote_id"`
	Code            uint16 `json:"code"`
	Amount          string `json:"amount,omitempty"`
	Receive         string `json:"receive,omitempty"`
}

// conversion builds the client's Conversion (the same planning code as the CLI's).
func (c *ConversionRequest) conversion() (client.Conversion, error) {
	var conversion client.Conversion
	fields := []struct {
		name, text string
		into       *model.Uint128
	}{{"id", c.ID, &conversion.SourceTransferID}, {"target_id", c.TargetID, &conversion.TargetTransferID},
		{"payer", c.Payer, &conversion.Payer}, {"payee", c.Payee, &conversion.Payee},
		{"source_liquidity", c.SourceLiquidity, &conversion.SourceLiquidity},
		{"target_liquidity", c.TargetLiquidity, &conversion.TargetLiquidity},
		{"quote_id", c.QuoteID, &conversion.QuoteID}, {"amount", c.Amount, &conversion.SourceAmount},
		{"receive", c.Receive, &conversion.TargetAmount}}
	for _, field := range fields {
		if field.text == "" {
			continue
		}
		value, err := jsonview.ParseID(field.name, field.text)
		if err != nil {
			return conversion, err
		}
		*field.into = value
	}
	if err := conversion.DefaultTargetTransferID(); err != nil {
		return conversion, fmt.Errorf("target_id: %w", err)
	}
	rate, err := client.ParseRate(c.Rate)
	if err != nil {
		return conversion, err
	}
	conversion.Rate = rate
	conversion.SourceLedger, conversion.TargetLedger, conversion.Code = c.SourceLedger,
		c.TargetLedger, c.Code
	conversion.SourceScale, conversion.TargetScale = c.SourceScale, c.TargetScale
	return conversion, nil
}

func (r *request) createConversion() {
	var body ConversionRequest
	if err := decodeStrict(r.body, &body); err != nil {
		r.badRequest(err)
		return
	}
	conversion, err := body.conversion()
	if err != nil {
		r.badRequest(err)
		return
	}
	plan, err := conversion.Plan()
	if err != nil {
		r.badRequest(err)
		return
	}
	transfers := plan.Transfers[:]
	results, ok := r.sendTransfersRaw(transfers)
	if !ok {
		return
	}
	outcome := client.ConversionResult{Plan: plan}
	for i := range outcome.Results {
		outcome.Results[i] = model.EventResult{Timestamp: results[i].Timestamp,
			Status: model.Status(results[i].Code), Rule: results[i].Rule}
	}
	view := jsonview.NewConversion(&conversion, &outcome)
	for i := range view.Legs {
		view.Legs[i].Risk = results[i].Risk
	}
	statusCode := fasthttp.StatusCreated
	switch {
	case !view.Applied:
		statusCode = fasthttp.StatusUnprocessableEntity
	case results[0].Code == uint32(model.StatusExists):
		statusCode = fasthttp.StatusOK
	}
	writeJSON(r.ctx, statusCode, view)
}

// timeBody is the body of GET /v1/time.
type timeBody struct {
	TimestampMs int64 `json:"timestamp_ms"`
}

func (r *request) time() {
	writeJSON(r.ctx, fasthttp.StatusOK, timeBody{TimestampMs: r.server.now().UnixMilli()})
}

func (r *request) openAPI() {
	r.ctx.SetStatusCode(fasthttp.StatusOK)
	r.ctx.SetContentType(contentTypeJSON)
	r.ctx.SetBody(openAPIDocument)
}
