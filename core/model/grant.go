package model

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Scope is what a client may do with accounts it does not own (a bit set). An account's
// owner (the client that created it) may do all of it with its own accounts; grants
// from the keys file extend a client's reach to other accounts. The coarse permissions
// of the keys file (read, transfer, trade, admin) still decide which operations a client
// may send at all; scopes decide on which money.
type Scope uint8

// Scopes. Transfer and trade include read.
const (
	ScopeRead     Scope = 1 << 0 // See the accounts, their transfers and balances.
	ScopeTransfer Scope = 1 << 1 // Debit them (and post or void their pending transfers).
	ScopeTrade    Scope = 1 << 2 // Fund orders from them and receive fills into them.
	// ScopeOperator sees and moves everything, every client's orders included. Only a
	// grant over every ledger and every account may carry it.
	ScopeOperator Scope = 1 << 3
	// ScopesKnown is every defined scope bit.
	ScopesKnown = ScopeRead | ScopeTransfer | ScopeTrade | ScopeOperator
)

// Grant limits.
const (
	// GrantSize is the encoded size of one grant (log format: never change).
	GrantSize = 48
	// GrantsMax bounds the grants in force (one keys file): the table is written into the
	// log whole, as the body of one internal request.
	GrantsMax = 8189
	// GrantsPerClientMax bounds one client's grants: a refused access is checked against
	// each of them, so the bound is the worst-case cost of that check (64 comparisons).
	GrantsPerClientMax = 64
	// grantsHeaderSize is the set_grants body's header: grant count u32, client limit
	// count u32 (reserved, zero, before rules version 3: see ClientLimit).
	grantsHeaderSize = 8
	// ClientLimitSize is the encoded size of one client limit (log and snapshot format:
	// never change).
	ClientLimitSize = 16
	// ClientLimitsMax bounds the client limits in force, one per limited client of the
	// keys file (a 4 MiB keys file holds some 29,000 minimal client entries: a file with
	// more limited clients than this is refused whole).
	ClientLimitsMax = 16384
	// GrantsBodyBytesMax bounds a set_grants request body: the grants and the client
	// limits (655,224 bytes: within a request body and a log entry).
	GrantsBodyBytesMax = grantsHeaderSize + GrantsMax*GrantSize + ClientLimitsMax*ClientLimitSize
)

// Grant gives Client the Scopes over the accounts of Ledger (0 = every ledger) whose ids
// lie in [First, Last] (both 0 = every id). Encoding, little-endian:
//
//	0 client u64 | 8 scopes u8 | 9 reserved (3 bytes, zero) | 12 ledger u32 |
//	16 first u128 | 32 last u128                                           = 48 bytes
type Grant struct {
	Client uint64
	Scopes Scope
	Ledger uint32
	First  Uint128
	Last   Uint128
}

// Encode writes the grant into b[0:48].
func (g *Grant) Encode(b []byte) {
	_ = b[GrantSize-1]
	binary.LittleEndian.PutUint64(b[0:], g.Client)
	b[8], b[9], b[10], b[11] = byte(g.Scopes), 0, 0, 0
	binary.LittleEndian.PutUint32(b[12:], g.Ledger)
	g.First.PutLE(b[16:])
	g.Last.PutLE(b[32:])
}

// Decode reads a grant from b[0:48] and reports whether its reserved bytes were zero.
func (g *Grant) Decode(b []byte) bool {
	_ = b[GrantSize-1]
	g.Client = binary.LittleEndian.Uint64(b[0:])
	g.Scopes = Scope(b[8])
	g.Ledger = binary.LittleEndian.Uint32(b[12:])
	g.First = Uint128LE(b[16:])
	g.Last = Uint128LE(b[32:])
	return b[9] == 0 && b[10] == 0 && b[11] == 0
}

// AllAccounts reports whether the grant covers every account id.
func (g *Grant) AllAccounts() bool { return g.First.IsZero() && g.Last.IsZero() }

// Covers reports whether the grant covers an account with this id and ledger.
func (g *Grant) Covers(id Uint128, ledger uint32) bool {
	return (g.Ledger == 0 || g.Ledger == ledger) &&
		(g.AllAccounts() || (!id.Less(g.First) && !g.Last.Less(id)))
}

// Allows reports whether the grant's scopes include need (read is in every scope).
func (g *Grant) Allows(need Scope) bool {
	if need == ScopeRead {
		return g.Scopes != 0
	}
	return g.Scopes&(need|ScopeOperator) != 0
}

// ErrGrantInvalid wraps every reason a grant table is refused.
var ErrGrantInvalid = errors.New("invalid grant")

// Validate checks one grant.
func (g *Grant) Validate() error {
	switch {
	case g.Client == 0:
		return fmt.Errorf("%w: client 0", ErrGrantInvalid)
	case g.Scopes == 0 || g.Scopes&^ScopesKnown != 0:
		return fmt.Errorf("%w: scopes %#x", ErrGrantInvalid, uint8(g.Scopes))
	case g.Scopes&ScopeOperator != 0 && (g.Ledger != 0 || !g.AllAccounts()):
		return fmt.Errorf("%w: the operator scope covers every ledger and account", ErrGrantInvalid)
	case !g.AllAccounts() && (g.First.IsZero() || g.Last.Less(g.First)):
		return fmt.Errorf("%w: account range %s..%s", ErrGrantInvalid, g.First, g.Last)
	}
	return nil
}

// ValidateGrants checks a whole grant table: each grant, the table's size and each
// client's count.
func ValidateGrants(grants []Grant) error {
	if len(grants) > GrantsMax {
		return fmt.Errorf("%w: %d grants, at most %d", ErrGrantInvalid, len(grants), GrantsMax)
	}
	perClient := make(map[uint64]int, len(grants))
	for i := range grants {
		if err := grants[i].Validate(); err != nil {
			return fmt.Errorf("grant %d: %w", i, err)
		}
		perClient[grants[i].Client]++
		if perClient[grants[i].Client] > GrantsPerClientMax {
			return fmt.Errorf("%w: client %d has more than %d grants", ErrGrantInvalid,
				grants[i].Client, GrantsPerClientMax)
		}
	}
	return nil
}

// AppendGrants appends the body of a set_grants request holding grants and no client
// limit: the encoding set_grants had before client limits existed.
func AppendGrants(dst []byte, grants []Grant) []byte {
	return AppendGrantsAndLimits(dst, grants, nil)
}

// AppendGrantsAndLimits appends the body of a set_grants request holding grants and
// client limits (ValidateClientLimits: by client id, no zero bound). Without limits it
// is exactly AppendGrants's encoding, so a keys file that sets none writes what it wrote
// before limits existed.
//
//	header  grant count u32 | client limit count u32
//	grants  count × 48-byte Grant records
//	limits  count × 16-byte ClientLimit records
func AppendGrantsAndLimits(dst []byte, grants []Grant, limits []ClientLimit) []byte {
	var header [grantsHeaderSize]byte
	binary.LittleEndian.PutUint32(header[0:], uint32(len(grants)))
	binary.LittleEndian.PutUint32(header[4:], uint32(len(limits)))
	dst = append(dst, header[:]...)
	var record [GrantSize]byte
	for i := range grants {
		grants[i].Encode(record[:])
		dst = append(dst, record[:]...)
	}
	for i := range limits {
		limits[i].Encode(record[:ClientLimitSize])
		dst = append(dst, record[:ClientLimitSize]...)
	}
	return dst
}

// DecodeGrants decodes and validates the body of a set_grants request: its grants and
// its client limits (none in a body written before they existed).
func DecodeGrants(body []byte) ([]Grant, []ClientLimit, error) {
	if len(body) < grantsHeaderSize {
		return nil, nil, fmt.Errorf("%w: set_grants header", ErrGrantInvalid)
	}
	count := binary.LittleEndian.Uint32(body[0:])
	limitCount := binary.LittleEndian.Uint32(body[4:])
	if count > GrantsMax || limitCount > ClientLimitsMax || len(body) !=
		grantsHeaderSize+int(count)*GrantSize+int(limitCount)*ClientLimitSize {
		return nil, nil, fmt.Errorf("%w: %d grants and %d client limits in %d bytes",
			ErrGrantInvalid, count, limitCount, len(body))
	}
	grants := make([]Grant, count)
	for i := range grants {
		if !grants[i].Decode(body[grantsHeaderSize+i*GrantSize:]) {
			return nil, nil, fmt.Errorf("%w: grant %d: reserved bytes", ErrGrantInvalid, i)
		}
	}
	if err := ValidateGrants(grants); err != nil {
		return nil, nil, err
	}
	var limits []ClientLimit
	if limitCount > 0 {
		limits = make([]ClientLimit, limitCount)
	}
	limitsStart := grantsHeaderSize + int(count)*GrantSize
	for i := range limits {
		if !limits[i].Decode(body[limitsStart+i*ClientLimitSize:]) {
			return nil, nil, fmt.Errorf("%w: client limit %d: reserved bytes", ErrGrantInvalid, i)
		}
	}
	if err := ValidateClientLimits(limits); err != nil {
		return nil, nil, err
	}
	return grants, limits, nil
}

// ClientLimit bounds what one client may hold in the core: AccountsMax is the most
// accounts it may own (create); a create_accounts event that would make it own more is
// refused with accounts_limit_per_client_reached. The table of limits comes from the
// keys file ("limits": {"accounts_max": n}) in the set_grants request, so that every
// replica and every replay decides with the bound the primary had. A client without a
// record has no bound of its own (only the ledger's AccountsMax). Encoding,
// little-endian:
//
//	0 client u64 | 8 accounts max u32 | 12 reserved u32 (zero)  = 16 bytes
//
// The reserved word is for later per-client bounds (each with its own rules version).
type ClientLimit struct {
	Client      uint64
	AccountsMax uint32
}

// Encode writes the limit into b[0:16].
func (c *ClientLimit) Encode(b []byte) {
	_ = b[ClientLimitSize-1]
	binary.LittleEndian.PutUint64(b[0:], c.Client)
	binary.LittleEndian.PutUint32(b[8:], c.AccountsMax)
	binary.LittleEndian.PutUint32(b[12:], 0)
}

// Decode reads a limit from b[0:16] and reports whether its reserved bytes were zero.
func (c *ClientLimit) Decode(b []byte) bool {
	_ = b[ClientLimitSize-1]
	c.Client = binary.LittleEndian.Uint64(b[0:])
	c.AccountsMax = binary.LittleEndian.Uint32(b[8:])
	return binary.LittleEndian.Uint32(b[12:]) == 0
}

// ValidateClientLimits checks a table of client limits. It has one encoding per content:
// ordered by client id, one record per client, no client 0 (the system has no bound),
// and no record without a bound (a client without one has no record).
func ValidateClientLimits(limits []ClientLimit) error {
	if len(limits) > ClientLimitsMax {
		return fmt.Errorf("%w: %d client limits, at most %d", ErrGrantInvalid, len(limits),
			ClientLimitsMax)
	}
	for i := range limits {
		switch {
		case limits[i].Client == 0:
			return fmt.Errorf("%w: client limit %d: client 0", ErrGrantInvalid, i)
		case limits[i].AccountsMax == 0:
			return fmt.Errorf("%w: client limit %d (client %d): no bound", ErrGrantInvalid, i,
				limits[i].Client)
		case i > 0 && limits[i].Client <= limits[i-1].Client:
			return fmt.Errorf("%w: client limit %d (client %d): not in increasing client order",
				ErrGrantInvalid, i, limits[i].Client)
		}
	}
	return nil
}
