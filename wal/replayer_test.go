package wal

import (
	"crypto/sha256"
	"encoding/binary"
	"io"
)

var (
	_ Replayer    = (*sumReplayer)(nil)
	_ io.WriterTo = (*sumReplayer)(nil)
)

// sumReplayer is a toy state machine: its state is the number of ops applied and the sum
// of all body bytes. Deterministic, cheap, and sensitive to any change of a body.
type sumReplayer struct {
	ops uint64
	sum uint64
}

func (r *sumReplayer) Reset() { *r = sumReplayer{} }

func (r *sumReplayer) Restore(reader io.Reader) error {
	var b [16]byte
	if _, err := io.ReadFull(reader, b[:]); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, reader); err != nil {
		return err
	}
	r.ops, r.sum = binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])
	return nil
}

func (r *sumReplayer) Apply(e *Entry) error {
	r.ops += uint64(e.Count)
	for _, c := range e.Body {
		r.sum += uint64(c)
	}
	return nil
}

func (r *sumReplayer) Digest() [32]byte {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], r.ops)
	binary.LittleEndian.PutUint64(b[8:], r.sum)
	return sha256.Sum256(b[:])
}

// WriteTo writes the state as a snapshot body (16 bytes, padded with filler so that
// the body spans several compression blocks).
func (r *sumReplayer) WriteTo(w io.Writer) (int64, error) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], r.ops)
	binary.LittleEndian.PutUint64(b[8:], r.sum)
	n, err := w.Write(b[:])
	return int64(n), err
}
