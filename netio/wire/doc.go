// Package wire is the byte format of Sequent's binary protocol: the 48-byte frame header,
// the frame kinds and their fixed bodies, the error codes, the login signature and a
// stream decoder. It does no I/O and starts no goroutines, so both the server (package
// netio) and the clients (package client, other languages) build on the same code.
// ../PROTOCOL.md is the complete specification; this package is its reference encoding.
//
// Every frame is a fixed header followed by a body:
//
//	 0      4   5    6    7     8            12       16        24       32     40       44       48
//	+------+---+----+----+-----+------------+--------+---------+--------+------+--------+--------+
//	|magic |ver|kind| op |flags|body_length | status | session | number | aux  |reserved|checksum|
//	+------+---+----+----+-----+------------+--------+---------+--------+------+--------+--------+
//	| body (body_length bytes): fixed-size records, or the kind's fixed body               ...
//
// All integers are little-endian. The checksum is CRC32C (Castagnoli) over header bytes
// 0..43 followed by the body. The offsets are frozen: a change is a new Version.
//
// Invariants:
//   - DecodeHeader rejects a header before any body byte is trusted: bad magic, version,
//     kind, reserved bits or a body length above the kind's bound (so a reader never
//     allocates more than BodyBytesMax for one frame).
//   - Frames returned by Decoder have a verified checksum.
//   - Encoders (PutFrame, AppendFrame, the Encode methods) write every byte of what they
//     cover, reserved fields as zero, so equal values give equal bytes.
package wire
