package netio

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"sequent/core/model"
	"sequent/netio/jsonkeys"
	"sequent/netio/wire"
)

// Keys file limits.
const (
	// KeysPerClientMax is two so that a key can be rotated without downtime: add the new
	// key, move the client over, remove the old key, reload each time.
	KeysPerClientMax = 2
	// SecretBytesMin is 16 bytes (128 bits): below that an HMAC key is guessable.
	SecretBytesMin = 16
	// SecretBytesMax is 64 bytes, SHA-256's block size; longer keys are hashed by HMAC
	// anyway and add nothing.
	SecretBytesMax = 64
	// keysFileBytesMax bounds the file read at start and on reload (about 10,000 clients).
	keysFileBytesMax = 4 << 20
	// AdminTokenBytesMin is 16 random bytes (128 bits): admin tokens are bearer tokens,
	// and only the HTTP refusal counter slows a guesser down.
	AdminTokenBytesMin = 16
	// AdminTokenNameBytesMax is what the audit record keeps of who acted (netio/ops
	// whoBytesMax, 128 bytes): a longer name would be cut there, so two names alike in
	// their first 128 bytes would read as one person in the audit log.
	AdminTokenNameBytesMax = 128
	// KeysFileVersion is the format version this package reads and writes.
	KeysFileVersion = 1
	// SignatureVersionMax is the newest version of the JSON HTTP API's request signature
	// (netio/api, README "Signing a request"): the largest signature_version_min a key
	// may ask for.
	SignatureVersionMax = 2
)

// KeysFile is the JSON document of a keys file:
//
//	{
//	  "version": 1,
//	  "clients": [
//	    {
//	      "id": 1,
//	      "name": "desk-a",
//	      "permissions": ["read", "transfer", "trade"],
//	      "keys": [
//	        {"id": 1, "secret": "<32 to 128 hex digits>"},
//	        {"id": 2, "secret": "<the next key during a rotation>", "signature_version_min": 2}
//	      ],
//	      "limits": {"requests_per_second": 0, "events_per_second": 0, "connections_max": 0,
//	                 "accounts_max": 0},
//	      "allowed_networks": ["10.0.0.0/8"],
//	      "grants": [
//	        {"scopes": ["transfer"], "ledger": 2},
//	        {"scopes": ["read"], "accounts": "1000-1999"}
//	      ]
//	    }
//	  ]
//	}
//
// Unknown fields are refused so that a typo cannot silently weaken a setting. The file
// holds secrets: keep it mode 0600.
//
// A client owns the accounts it creates; "grants" extend its reach to accounts of other
// clients (see KeysFileGrant). {"scopes": ["operator"]} lets a client see and move
// everything: that is the single-tenant setting, and the development key has it.
//
// "limits": the rates and connections bound what the server admits (Controls; zero or
// absent: unlimited); "accounts_max" bounds how many accounts the client may own (create)
// on each shard, decided by the core like the grants (zero or absent: only the ledger's
// own bound; see ClientLimits).
type KeysFile struct {
	Version int              `json:"version"` // KeysFileVersion.
	Clients []KeysFileClient `json:"clients"` // Every client allowed to log in.
	// AdminTokens are the bearer tokens of the HTTP admin API (promote, snapshot, reload
	// keys, log level), each with the name audit records show.
	AdminTokens []KeysFileAdminToken `json:"admin_tokens,omitempty"`
}

// KeysFileAdminToken is one operator's admin bearer token.
type KeysFileAdminToken struct {
	Name  string `json:"name"`  // Who: written into the audit record of each action.
	Token string `json:"token"` // Hex, AdminTokenBytesMin..SecretBytesMax bytes of randomness.
}

// KeysFileClient is one client of a keys file.
type KeysFileClient struct {
	ID          uint64        `json:"id"`          // Client id, not 0, unique in the file.
	Name        string        `json:"name"`        // For logs and operators.
	Permissions []string      `json:"permissions"` // "read", "transfer", "trade", "admin".
	Keys        []KeysFileKey `json:"keys"`        // 1 or 2 keys (2 during rotation).
	// Limits are enforced by the server's Admission hook (Controls), but accounts_max,
	// which the core enforces (ClientLimits); zero: unlimited.
	Limits ClientLimits `json:"limits,omitzero"`
	// AllowedNetworks (CIDR) lists where the client may connect from; empty: anywhere.
	// Enforced at login by the Admission hook (Controls).
	AllowedNetworks []string `json:"allowed_networks,omitempty"`
	// Grants give the client access to accounts it does not own (it owns those it
	// created). Enforced by the core, which receives the table through the log.
	Grants []KeysFileGrant `json:"grants,omitempty"`
}

// KeysFileGrant is one grant of a client (model.Grant): scopes over the accounts of one
// ledger (0 or absent: every ledger) whose ids are in a range (absent: every id).
type KeysFileGrant struct {
	// Scopes: "read" (see), "transfer" (debit; post or void pending transfers), "trade"
	// (fund orders and receive fills), "operator" (everything, every client's orders
	// included; only without ledger and accounts). Transfer and trade include read.
	Scopes []string `json:"scopes"`
	Ledger uint32   `json:"ledger,omitempty"`
	// Accounts is one decimal account id ("42") or an inclusive range ("1000-1999").
	Accounts string `json:"accounts,omitempty"`
}

// KeysFileKey is one key of a client: a shared secret (HMAC-SHA256: the binary login and
// the HTTP API), or an ECDSA P-256 public key (the HTTP API only: the client signs with
// its private key, which the server never sees).
type KeysFileKey struct {
	ID     uint32 `json:"id"`               // Key id, not 0, unique within the client.
	Secret string `json:"secret,omitempty"` // Hex, SecretBytesMin..SecretBytesMax bytes.
	// PublicKey is a P-256 public key: a PEM "PUBLIC KEY" block, or the base64 of its DER
	// (SubjectPublicKeyInfo), e.g. `openssl ec -in key.pem -pubout -outform DER | base64`.
	PublicKey string `json:"public_key,omitempty"`
	// SignatureVersionMin is the oldest version of the JSON HTTP API's request signature
	// the server accepts from this key, 1..SignatureVersionMax (0 or absent: 1, every
	// version). 2 refuses requests signed with version 1, whose string to sign leaves
	// the Idempotency-Key unprotected, once the key's integrators sign version 2. The
	// binary login does not look at it.
	SignatureVersionMin int `json:"signature_version_min,omitempty"`
}

// ClientLimits are a client's configured limits; zero means unlimited.
type ClientLimits struct {
	RequestsPerSecond float64 `json:"requests_per_second,omitempty"`
	EventsPerSecond   float64 `json:"events_per_second,omitempty"`
	ConnectionsMax    int     `json:"connections_max,omitempty"`
	// AccountsMax bounds the accounts the client may own, i.e. create (per shard: each
	// shard's core counts its own), 1 to ClientAccountsMax; 0: no bound of its own, only
	// the ledger's, shared by every client. A create_accounts event beyond it answers
	// accounts_limit_per_client_reached; a retry of one of its accounts still answers
	// exists, and lowering the bound removes nothing. It travels with the grants in the
	// set_grants request (model.ClientLimit), so the primary applies a reload from the
	// next request it sequences and every replica and replay decides alike.
	AccountsMax int64 `json:"accounts_max,omitempty"`
}

// ClientAccountsMax is the largest accounts_max (the log's field is 32 bits; a ledger
// holds fewer accounts anyway).
const ClientAccountsMax = 1<<32 - 1

// Client is one client as loaded from the keys file. Values are immutable: a reload
// builds new ones, so a *Client may be kept and read from any goroutine.
type Client struct {
	ID              uint64
	Name            string
	Permissions     uint32 // wire.Permission* bits.
	Limits          ClientLimits
	AllowedNetworks []netip.Prefix
	Grants          []model.Grant // In keys file order.
	keys            [KeysPerClientMax]clientKey
	keyCount        int
}

type clientKey struct {
	id     uint32
	secret []byte           // HMAC key; nil for a public key.
	public *ecdsa.PublicKey // P-256 public key; nil for a secret.
	// signatureVersionMin is KeysFileKey.SignatureVersionMin, 1 when absent.
	signatureVersionMin int
}

// Secret returns the secret of key id and whether the client has a secret with that id
// (a public key is not a secret: the binary login, which needs one, refuses it).
func (c *Client) Secret(key uint32) ([]byte, bool) {
	for i := 0; i < c.keyCount; i++ {
		if c.keys[i].id == key && c.keys[i].secret != nil {
			return c.keys[i].secret, true
		}
	}
	return nil, false
}

// PublicKey returns the P-256 public key with id key and whether the client has one.
func (c *Client) PublicKey(key uint32) (*ecdsa.PublicKey, bool) {
	for i := 0; i < c.keyCount; i++ {
		if c.keys[i].id == key && c.keys[i].public != nil {
			return c.keys[i].public, true
		}
	}
	return nil, false
}

// SignatureVersionMin returns the oldest API signature version the key with id key
// accepts (1 unless its keys file entry says signature_version_min), and whether the
// client has such a key.
func (c *Client) SignatureVersionMin(key uint32) (int, bool) {
	for i := 0; i < c.keyCount; i++ {
		if c.keys[i].id == key {
			return c.keys[i].signatureVersionMin, true
		}
	}
	return 0, false
}

// hasKey reports whether the client has a key (of either kind) with id key.
func (c *Client) hasKey(key uint32) bool {
	for i := 0; i < c.keyCount; i++ {
		if c.keys[i].id == key {
			return true
		}
	}
	return false
}

// PermissionsInForce returns the permission bits the client holds in effect, as a
// session's login_accepted reports them: every permission includes read, and admin
// includes every other (Allows decides by the same rules).
func (c *Client) PermissionsInForce() uint32 {
	switch {
	case c.Permissions&wire.PermissionAdmin != 0:
		return wire.PermissionRead | wire.PermissionTransfer | wire.PermissionTrade |
			wire.PermissionAdmin
	case c.Permissions != 0:
		return c.Permissions | wire.PermissionRead
	}
	return 0
}

// Allows reports whether the client may send operation (assumed defined and external):
// whether the permissions in force hold the one it requires.
func (c *Client) Allows(operation model.Operation) bool {
	return c.PermissionsInForce()&requiredPermissions[operation] != 0
}

// requiredPermissions is RequiredPermission of every operation value, computed once when
// the package starts (operations are registered by package model's init, which runs
// first): Allows is on every request frame's path, and RequiredPermission copies the
// operation's description and hashes its name for the admin check each time (in a
// profile of one-transfer requests, admitRequest and that map lookup took ~1.9% of the
// server's CPU; BenchmarkAllows: ~18 cpu-ns a check computed, ~3.5 from the table).
var requiredPermissions = func() (table [1 << 8]uint32) {
	for operation := range table {
		table[operation] = RequiredPermission(model.Operation(operation))
	}
	return table
}()

// adminOperations need the admin permission whatever their shape: creating instruments
// changes what every trader can do, and the risk rules are the operators' business. Names are matched so that operations registered later
// (the matching engine's) need no change here.
var adminOperations = map[string]bool{"create_instruments": true, "get_risk_rules": true}

// RequiredPermission returns the permission bit an operation needs: admin for the
// administrative ones, read for lookups and queries, trade for matching writes and
// transfer for ledger writes.
func RequiredPermission(operation model.Operation) uint32 {
	info, _ := operation.Info()
	switch {
	case adminOperations[info.Name] || info.Internal:
		return wire.PermissionAdmin
	case !info.Write:
		return wire.PermissionRead
	case info.Matching:
		return wire.PermissionTrade
	}
	return wire.PermissionTransfer
}

var permissionNames = map[string]uint32{
	"read":     wire.PermissionRead,
	"transfer": wire.PermissionTransfer,
	"trade":    wire.PermissionTrade,
	"admin":    wire.PermissionAdmin,
}

// PermissionNames returns the names of the bits set in permissions, in bit order.
func PermissionNames(permissions uint32) []string {
	var names []string
	for _, name := range []string{"read", "transfer", "trade", "admin"} {
		if permissions&permissionNames[name] != 0 {
			names = append(names, name)
		}
	}
	return names
}

// keySet is one loaded keys file.
type keySet struct {
	clients     map[uint64]*Client
	adminTokens map[string]string // Name → token (validated hex).
	// grants is the set_grants body: every client's grants, by client id, and the client
	// limits (those with an accounts_max), by client id.
	grants []byte
}

// Keyring holds the current keys. Lookups are lock-free (an atomic pointer to an
// immutable set), so event loops may call them; Reload swaps in a new set atomically.
type Keyring struct {
	path     string                 // File to reload from; "" for an in-memory keyring.
	options  KeysOptions            // How the file is read; immutable.
	current  atomic.Pointer[keySet] // The set in force.
	reloadMu sync.Mutex             // Serializes Reload and Replace (never on a loop).
}

// KeysOptions adjust how LoadKeysWith reads a keys file.
type KeysOptions struct {
	// AllowOpenMode accepts a keys file that its group or others may read or write,
	// with a loud warning at every load. By default such a file is refused: it holds every
	// client's secret and the admin tokens, and must be mode 0600 (or stricter).
	AllowOpenMode bool
	// Logger receives that warning (nil: slog.Default()).
	Logger *slog.Logger
}

// keysFileOpenBits are the permission bits a keys file must not have: any access for
// its group or for others.
const keysFileOpenBits fs.FileMode = 0o077

// Errors of keys files.
var (
	// ErrKeysFile wraps every problem with a keys file's content.
	ErrKeysFile = errors.New("netio: keys file")
	// ErrKeysFileMode refuses a keys file whose group or others may access it.
	ErrKeysFileMode = errors.New("netio: keys file mode too open")
	// ErrKeysFileExists is returned by GenerateDevKeys when the file already exists.
	ErrKeysFileExists = errors.New("netio: keys file already exists")
)

// LoadKeys reads and validates a keys file, refusing one its group or others may access.
func LoadKeys(path string) (*Keyring, error) { return LoadKeysWith(path, KeysOptions{}) }

// LoadKeysWith is LoadKeys with options; Reload keeps them.
func LoadKeysWith(path string, options KeysOptions) (*Keyring, error) {
	if options.Logger == nil {
		options.Logger = slog.Default()
	}
	k := &Keyring{path: path, options: options}
	if err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// NewKeyring builds an in-memory keyring (no file; Reload is an error, Replace works).
func NewKeyring(file KeysFile) (*Keyring, error) {
	k := &Keyring{}
	if err := k.Replace(file); err != nil {
		return nil, err
	}
	return k, nil
}

// Reload re-reads the keys file. On any error the keys in force are kept and the error
// says why. New logins see the new keys at once; a logged-in session whose client or key
// is gone (or whose key has a new secret) is closed (key_revoked) at its next request or
// subscription, or instead of the next report or market-data update it would be sent,
// and permission changes apply to the next request.
func (k *Keyring) Reload() error {
	if k.path == "" {
		return errors.New("netio: keyring has no file to reload")
	}
	if err := k.checkMode(); err != nil {
		return err
	}
	data, err := readFileBounded(k.path, keysFileBytesMax)
	if err != nil {
		return fmt.Errorf("netio: read keys file: %w", err)
	}
	file, err := ParseKeysFile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", k.path, err)
	}
	return k.Replace(file)
}

// checkMode refuses a keys file its group or others may access (or warns, with
// AllowOpenMode). Windows has no such bits: nothing to check there.
func (k *Keyring) checkMode() error {
	info, err := os.Stat(k.path)
	if err != nil {
		return fmt.Errorf("netio: read keys file: %w", err)
	}
	mode := info.Mode().Perm()
	if runtime.GOOS == "windows" || mode&keysFileOpenBits == 0 {
		return nil
	}
	if !k.options.AllowOpenMode {
		return fmt.Errorf("%w: %s has mode %04o: its group or others may access the clients' "+
			"secrets; chmod 600 it (or allow it explicitly: serve --keys-allow-open-mode)",
			ErrKeysFileMode, k.path, mode)
	}
	k.options.Logger.Warn("netio: KEYS FILE READABLE BY OTHERS: its group or others may "+
		"access the clients' secrets and the admin tokens (allowed by --keys-allow-open-mode); "+
		"chmod 600 it", "path", k.path, "mode", fmt.Sprintf("%04o", mode))
	return nil
}

// Replace validates file and puts it in force.
func (k *Keyring) Replace(file KeysFile) error {
	set, err := buildKeySet(file)
	if err != nil {
		return err
	}
	k.reloadMu.Lock()
	defer k.reloadMu.Unlock()
	k.current.Store(set)
	return nil
}

// Client returns the client with that id from the keys in force.
func (k *Keyring) Client(id uint64) (*Client, bool) {
	client, ok := k.current.Load().clients[id]
	return client, ok
}

// Clients returns the clients in force, ordered by id.
func (k *Keyring) Clients() []*Client {
	set := k.current.Load()
	clients := make([]*Client, 0, len(set.clients))
	for _, client := range set.clients {
		clients = append(clients, client)
	}
	sort.Slice(clients, func(i, j int) bool { return clients[i].ID < clients[j].ID })
	return clients
}

// ParseKeysFile decodes and validates the JSON of a keys file. A key given twice in an
// object or spelled other than as its field ("Permissions") is refused (jsonkeys.Check):
// encoding/json keeps the last of two equal keys and folds case, so a client entry reading
// "permissions": ["read"] and further on "Permissions": ["read", "admin"] loaded with admin
// where a reviewer of the file saw read only (TestReview52aKeysFileKeysAreReadOnce).
func ParseKeysFile(data []byte) (KeysFile, error) {
	if err := jsonkeys.Check(data); err != nil {
		return KeysFile{}, fmt.Errorf("%w: %v", ErrKeysFile, err)
	}
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.DisallowUnknownFields()
	var file KeysFile
	if err := decoder.Decode(&file); err != nil {
		return KeysFile{}, fmt.Errorf("%w: %v", ErrKeysFile, err)
	}
	if _, err := buildKeySet(file); err != nil {
		return KeysFile{}, err
	}
	return file, nil
}

func buildKeySet(file KeysFile) (*keySet, error) {
	if file.Version != KeysFileVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrKeysFile, file.Version,
			KeysFileVersion)
	}
	set := &keySet{clients: make(map[uint64]*Client, len(file.Clients))}
	for i := range file.Clients {
		client, err := buildClient(&file.Clients[i])
		if err != nil {
			return nil, fmt.Errorf("%w: client %d (%q): %v", ErrKeysFile, file.Clients[i].ID,
				file.Clients[i].Name, err)
		}
		if _, exists := set.clients[client.ID]; exists {
			return nil, fmt.Errorf("%w: client id %d appears twice", ErrKeysFile, client.ID)
		}
		set.clients[client.ID] = client
	}
	set.adminTokens = make(map[string]string, len(file.AdminTokens))
	// Names by token bytes: a token two names hold could not say who acted (ops.TokenChecker
	// refuses it), and the same bytes in another hex case are another string to it, so
	// each name would be a spelling away (TestReview52aKeysFileRefusesAnAdminTokenTwoNamesHold).
	holders := make(map[string]string, len(file.AdminTokens))
	for _, token := range file.AdminTokens {
		raw, err := hex.DecodeString(token.Token)
		switch {
		case token.Name == "":
			return nil, fmt.Errorf("%w: an admin token without a name", ErrKeysFile)
		case len(token.Name) > AdminTokenNameBytesMax:
			return nil, fmt.Errorf("%w: admin token name %.40q…: %d bytes, at most %d (what "+
				"the audit record keeps)", ErrKeysFile, token.Name, len(token.Name),
				AdminTokenNameBytesMax)
		case err != nil || len(raw) < AdminTokenBytesMin || len(raw) > SecretBytesMax:
			return nil, fmt.Errorf("%w: admin token %q: want %d..%d hex bytes", ErrKeysFile,
				token.Name, AdminTokenBytesMin, SecretBytesMax)
		}
		if _, exists := set.adminTokens[token.Name]; exists {
			return nil, fmt.Errorf("%w: admin token name %q appears twice", ErrKeysFile, token.Name)
		}
		if holder, exists := holders[string(raw)]; exists {
			return nil, fmt.Errorf("%w: admin tokens %q and %q are the same token: give each "+
				"name its own", ErrKeysFile, holder, token.Name)
		}
		holders[string(raw)] = token.Name
		set.adminTokens[token.Name] = token.Token
	}
	ids := make([]uint64, 0, len(set.clients))
	for id := range set.clients {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var grants []model.Grant
	var limits []model.ClientLimit
	for _, id := range ids {
		client := set.clients[id]
		grants = append(grants, client.Grants...)
		if client.Limits.AccountsMax > 0 {
			limits = append(limits, model.ClientLimit{Client: id,
				AccountsMax: uint32(client.Limits.AccountsMax)})
		}
	}
	if err := model.ValidateGrants(grants); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysFile, err)
	}
	if err := model.ValidateClientLimits(limits); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKeysFile, err)
	}
	// Without any accounts_max this is the body set_grants had before client limits.
	set.grants = model.AppendGrantsAndLimits(nil, grants, limits)
	return set, nil
}

// GrantsBody returns the grant table and the client limits of the keys in force,
// encoded as the body of the internal set_grants request (clients by id, each client's
// grants in file order; then the limits of the clients with an accounts_max, by id):
// what the server hands to its shard at start and after every reload.
func (k *Keyring) GrantsBody() []byte { return k.current.Load().grants }

// AdminTokens returns the admin tokens in force (name → token), for the HTTP server's
// token check; reloading the keys file changes them.
func (k *Keyring) AdminTokens() map[string]string { return k.current.Load().adminTokens }

func buildClient(entry *KeysFileClient) (*Client, error) {
	client := &Client{ID: entry.ID, Name: entry.Name, Limits: entry.Limits}
	if entry.ID == 0 {
		return nil, errors.New("id must not be 0")
	}
	for _, name := range entry.Permissions {
		bit, ok := permissionNames[name]
		if !ok {
			return nil, fmt.Errorf("unknown permission %q (want read, transfer, trade, admin)",
				name)
		}
		client.Permissions |= bit
	}
	if client.Permissions == 0 {
		return nil, errors.New("no permissions")
	}
	if len(entry.Keys) < 1 || len(entry.Keys) > KeysPerClientMax {
		return nil, fmt.Errorf("%d keys, want 1..%d", len(entry.Keys), KeysPerClientMax)
	}
	for _, key := range entry.Keys {
		built, err := buildKey(key)
		if err != nil {
			return nil, err
		}
		if client.hasKey(key.ID) {
			return nil, fmt.Errorf("key id %d appears twice", key.ID)
		}
		client.keys[client.keyCount] = built
		client.keyCount++
	}
	if entry.Limits.RequestsPerSecond < 0 || entry.Limits.EventsPerSecond < 0 ||
		entry.Limits.ConnectionsMax < 0 || entry.Limits.AccountsMax < 0 {
		return nil, errors.New("limits must not be negative")
	}
	// Compared as int64 so that the check builds where int has 32 bits (there no int
	// can exceed the bound, and the untyped constant would not fit an int).
	if int64(entry.Limits.AccountsMax) > ClientAccountsMax {
		return nil, fmt.Errorf("limits.accounts_max %d, at most %d", entry.Limits.AccountsMax,
			int64(ClientAccountsMax))
	}
	for _, network := range entry.AllowedNetworks {
		prefix, err := netip.ParsePrefix(network)
		if err != nil {
			return nil, fmt.Errorf("allowed network %q: %v", network, err)
		}
		client.AllowedNetworks = append(client.AllowedNetworks, prefix.Masked())
	}
	for i := range entry.Grants {
		grant, err := buildGrant(entry.ID, &entry.Grants[i])
		if err != nil {
			return nil, fmt.Errorf("grant %d: %v", i, err)
		}
		client.Grants = append(client.Grants, grant)
	}
	return client, nil
}

// buildKey checks one key: an id, exactly one of a secret and a public key, and a
// signature_version_min the server knows (absent: 1).
func buildKey(key KeysFileKey) (clientKey, error) {
	versionMin := max(key.SignatureVersionMin, 1)
	switch {
	case key.ID == 0:
		return clientKey{}, errors.New("key id must not be 0")
	case (key.Secret == "") == (key.PublicKey == ""):
		return clientKey{}, fmt.Errorf("key %d: give exactly one of secret and public_key", key.ID)
	case key.SignatureVersionMin < 0 || key.SignatureVersionMin > SignatureVersionMax:
		return clientKey{}, fmt.Errorf("key %d: signature_version_min %d, want 1..%d", key.ID,
			key.SignatureVersionMin, SignatureVersionMax)
	case key.PublicKey != "":
		public, err := ParsePublicKey(key.PublicKey)
		if err != nil {
			return clientKey{}, fmt.Errorf("key %d: %v", key.ID, err)
		}
		return clientKey{id: key.ID, public: public, signatureVersionMin: versionMin}, nil
	}
	secret, err := hex.DecodeString(key.Secret)
	switch {
	case err != nil:
		return clientKey{}, fmt.Errorf("key %d: secret is not hex: %v", key.ID, err)
	case len(secret) < SecretBytesMin || len(secret) > SecretBytesMax:
		return clientKey{}, fmt.Errorf("key %d: secret of %d bytes, want %d..%d", key.ID,
			len(secret), SecretBytesMin, SecretBytesMax)
	}
	return clientKey{id: key.ID, secret: secret, signatureVersionMin: versionMin}, nil
}

// ParsePublicKey reads a P-256 public key from a PEM "PUBLIC KEY" block or the base64
// (standard alphabet) of its DER SubjectPublicKeyInfo.
func ParsePublicKey(text string) (*ecdsa.PublicKey, error) {
	der := []byte(nil)
	if block, _ := pem.Decode([]byte(text)); block != nil {
		if block.Type != "PUBLIC KEY" {
			return nil, fmt.Errorf("public_key: a PEM %q block, want PUBLIC KEY", block.Type)
		}
		der = block.Bytes
	} else {
		decoded, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
		if err != nil {
			return nil, errors.New("public_key: neither PEM nor base64 DER")
		}
		der = decoded
	}
	parsed, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public_key: %v", err)
	}
	public, ok := parsed.(*ecdsa.PublicKey)
	if !ok || public.Curve != elliptic.P256() {
		return nil, errors.New("public_key: want an ECDSA P-256 key")
	}
	return public, nil
}

var scopeNames = map[string]model.Scope{"read": model.ScopeRead,
	"transfer": model.ScopeTransfer, "trade": model.ScopeTrade, "operator": model.ScopeOperator}

// buildGrant translates a keys file grant and checks it (model.Grant.Validate).
func buildGrant(client uint64, entry *KeysFileGrant) (model.Grant, error) {
	grant := model.Grant{Client: client, Ledger: entry.Ledger}
	for _, name := range entry.Scopes {
		scope, ok := scopeNames[name]
		if !ok {
			return grant, fmt.Errorf("unknown scope %q (want read, transfer, trade, operator)", name)
		}
		grant.Scopes |= scope
	}
	if entry.Accounts != "" {
		first, last, ranged := strings.Cut(entry.Accounts, "-")
		var err error
		if grant.First, err = model.ParseUint128(strings.TrimSpace(first)); err != nil {
			return grant, fmt.Errorf("accounts %q: %v", entry.Accounts, err)
		}
		grant.Last = grant.First
		if ranged {
			if grant.Last, err = model.ParseUint128(strings.TrimSpace(last)); err != nil {
				return grant, fmt.Errorf("accounts %q: %v", entry.Accounts, err)
			}
		}
		if grant.First.IsZero() {
			return grant, fmt.Errorf("accounts %q: account ids start at 1", entry.Accounts)
		}
	}
	return grant, grant.Validate()
}

func readFileBounded(path string, bytesMax int64) ([]byte, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if info.Size() > bytesMax {
		return nil, fmt.Errorf("%d bytes, more than %d", info.Size(), bytesMax)
	}
	data := make([]byte, info.Size())
	_, err = file.ReadAt(data, 0)
	if info.Size() == 0 {
		err = nil
	}
	return data, err
}

// DevKey is the credential GenerateDevKeys created.
type DevKey struct {
	Client     uint64 // Client id (1).
	Key        uint32 // Key id (1).
	Secret     string // Hex secret (32 random bytes).
	AdminToken string // Hex admin bearer token (32 random bytes), named "dev".
}

// GenerateDevKeys creates a keys file at path holding one development client (id 1,
// name "dev", every permission and the operator scope, so that it sees and moves every
// account as a single-tenant setup expects) with a fresh random 32-byte secret, written
// with mode 0600 and never overwriting an existing file (ErrKeysFileExists). The caller
// shows the returned credential once and warns that it is for development only.
func GenerateDevKeys(path string) (DevKey, error) {
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return DevKey{}, fmt.Errorf("netio: random secret: %w", err)
	}
	var token [32]byte
	if _, err := rand.Read(token[:]); err != nil {
		return DevKey{}, fmt.Errorf("netio: random token: %w", err)
	}
	dev := DevKey{Client: 1, Key: 1, Secret: hex.EncodeToString(secret[:]),
		AdminToken: hex.EncodeToString(token[:])}
	file := KeysFile{Version: KeysFileVersion, Clients: []KeysFileClient{{
		ID: dev.Client, Name: "dev", Permissions: []string{"read", "transfer", "trade", "admin"},
		Keys:   []KeysFileKey{{ID: dev.Key, Secret: dev.Secret}},
		Grants: []KeysFileGrant{{Scopes: []string{"operator"}}},
	}}, AdminTokens: []KeysFileAdminToken{{Name: "dev", Token: dev.AdminToken}}}
	if err := WriteKeysFile(path, file, false); err != nil {
		return DevKey{}, err
	}
	return dev, nil
}

// WriteKeysFile validates file and writes it to path with mode 0600. With overwrite
// false an existing file is left alone (ErrKeysFileExists); with overwrite true the file
// is replaced atomically (written beside it, synced, renamed), so a concurrent Reload
// sees the old or the new file, never a torn one.
func WriteKeysFile(path string, file KeysFile, overwrite bool) error {
	if _, err := buildKeySet(file); err != nil {
		return err
	}
	data, err := json.MarshalIndent(file, "", "  ")
	if err != nil {
		return fmt.Errorf("netio: encode keys file: %w", err)
	}
	data = append(data, '\n')
	if !overwrite {
		handle, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeysFileExists, path)
		}
		if err != nil {
			return fmt.Errorf("netio: create keys file: %w", err)
		}
		return writeAndClose(handle, data)
	}
	temporary, err := os.CreateTemp(filepath.Dir(path), ".keys-*.json")
	if err != nil {
		return fmt.Errorf("netio: write keys file: %w", err)
	}
	if err := temporary.Chmod(0o600); err != nil {
		temporary.Close()
		os.Remove(temporary.Name())
		return fmt.Errorf("netio: write keys file: %w", err)
	}
	if err := writeAndClose(temporary, data); err != nil {
		os.Remove(temporary.Name())
		return err
	}
	if err := os.Rename(temporary.Name(), path); err != nil {
		os.Remove(temporary.Name())
		return fmt.Errorf("netio: write keys file: %w", err)
	}
	return nil
}

func writeAndClose(file *os.File, data []byte) error {
	_, err := file.Write(data)
	if err == nil {
		err = file.Sync()
	}
	if closeErr := file.Close(); err == nil {
		err = closeErr
	}
	if err != nil {
		return fmt.Errorf("netio: write keys file: %w", err)
	}
	return nil
}
