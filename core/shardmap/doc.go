// Package shardmap places accounts and instruments on the shards of a node. It is pure
// (no I/O, no state beyond the map): the router, every shard's core and the clients all
// compute placement with the same functions, so they always agree.
//
// # Placement
//
// A map has N shards (1..ShardsMax) and one of three placements for accounts:
//
//   - PlacementLedger: by the account's ledger (a table of ledger → shard, and a default
//     shard for unlisted ledgers). Every transfer is then local, since both accounts of a
//     transfer share its ledger; ids alone do not say where an account lives, so lookups
//     by id go to every shard.
//   - PlacementRange: by the account id, in ranges: entry i owns the ids from its Start up
//     to the next entry's Start (the first Start is 0; the last range ends at 2^128-1).
//   - PlacementHash: by Hash(id) mod N.
//
// Instruments are placed one shard each (a table of instrument → shard, and a default).
// System ids (bit 127, model.IsSystemID) are Sequent's own and never placed by a client:
// the escrows live with their instrument, the settlement accounts of sagas on both shards
// of their pair.
//
// The map of a node is chosen when its data directory is created and never changes
// (resharding is out of scope): Encode's bytes are recorded in the directory, and a node
// whose map differs from the recorded one (a standby started with other flags, say)
// refuses to start.
//
// # Encoding (version 1, little-endian; also the body of the get_shard_map reply)
//
//	 0 magic "SQSHMAP1" (8)   8 version u32 (1)   12 checksum u32
//	16 shards u16   18 placement u8   19 reserved u8 (0)
//	20 default ledger shard u16   22 default instrument shard u16
//	24 ledger entries u32   28 range entries u32   32 instrument entries u32
//	36 reserved u32 (0)
//	40 ledger entries      (ledger u32, shard u16, reserved u16)            8 bytes each
//	   range entries       (start u128, shard u16, reserved 6 bytes)        24 bytes each
//	   instrument entries  (instrument u32, shard u16, reserved u16)        8 bytes each
//
// The checksum is CRC32C (Castagnoli) of the whole encoding with the checksum field zero.
// Entries are sorted by their key, keys unique, every shard below shards, every reserved
// byte zero; tables other than the placement's own are empty. Decode refuses anything else.
//
// # The hash (for clients in other languages)
//
// With x = lo XOR (hi × 0x9E3779B97F4A7C15) (all arithmetic mod 2^64, lo and hi the low
// and high 64 bits of the id), then x ^= x>>30; x ×= 0xBF58476D1CE4E5B9; x ^= x>>27;
// x ×= 0x94D049BB133111EB; x ^= x>>31: the shard is x mod N. Test vectors are in
// TestHashVectors.
package shardmap
