package wire

import (
	"io"
)

// decoderReadBytesMin is the least free space a ReadFrom offers the reader: 64 KiB keeps
// the syscall count low for streams of small frames.
const decoderReadBytesMin = 64 << 10

// Decoder splits a byte stream into checked frames. Feed it with Write or ReadFrom and
// take frames with Next until it answers ok == false. Not safe for concurrent use.
//
// The first error is sticky: after a malformed frame the stream cannot be trusted (frame
// boundaries are lost), so every later Next returns the same error.
type Decoder struct {
	buffer []byte // buffer[start:end] holds received bytes not yet returned as frames.
	start  int
	end    int
	err    error
}

// Write appends p to the stream. It never fails.
func (d *Decoder) Write(p []byte) (int, error) {
	d.reserve(len(p))
	d.end += copy(d.buffer[d.end:], p)
	return len(p), nil
}

// ReadFrom does one Read from r into the decoder's free space and returns what it read.
// A frame announced by a header already buffered is given room in full.
func (d *Decoder) ReadFrom(r io.Reader) (int64, error) {
	want := decoderReadBytesMin
	if d.end-d.start >= HeaderSize {
		if f, err := DecodeHeader(d.buffer[d.start:d.end]); err == nil {
			want = max(want, f.FrameSize()-(d.end-d.start))
		}
	}
	d.reserve(want)
	n, err := r.Read(d.buffer[d.end:])
	d.end += n
	return int64(n), err
}

// reserve makes room for n more bytes after end, compacting or growing the buffer.
func (d *Decoder) reserve(n int) {
	if len(d.buffer)-d.end >= n {
		return
	}
	used := d.end - d.start
	if d.start > 0 && len(d.buffer)-used >= n {
		copy(d.buffer, d.buffer[d.start:d.end])
		d.start, d.end = 0, used
		return
	}
	grown := make([]byte, max(2*len(d.buffer), used+n))
	copy(grown, d.buffer[d.start:d.end])
	d.buffer, d.start, d.end = grown, 0, used
}

// Buffered returns the bytes received but not yet returned in a frame.
func (d *Decoder) Buffered() int { return d.end - d.start }

// Next returns the next complete frame. ok is false when more bytes are needed (err nil)
// or the stream is malformed (err set). The frame's Body aliases the decoder's buffer and
// is valid until the next call to Write, ReadFrom or Next.
func (d *Decoder) Next() (frame Frame, ok bool, err error) {
	if d.err != nil {
		return Frame{}, false, d.err
	}
	if d.end-d.start < HeaderSize {
		return Frame{}, false, nil
	}
	frame, err = DecodeHeader(d.buffer[d.start:d.end])
	if err != nil {
		d.err = err
		return Frame{}, false, err
	}
	size := frame.FrameSize()
	if d.end-d.start < size {
		return Frame{}, false, nil
	}
	whole := d.buffer[d.start : d.start+size]
	if err := CheckChecksum(whole); err != nil {
		d.err = err
		return Frame{}, false, err
	}
	frame.Body = whole[HeaderSize:]
	d.start += size
	if d.start == d.end {
		d.start, d.end = 0, 0
	}
	return frame, true, nil
}

// End reports how the stream ended: nil if it stopped on a frame boundary, the sticky
// error if it was malformed, ErrTruncated if it stopped inside a frame.
func (d *Decoder) End() error {
	if d.err != nil {
		return d.err
	}
	if d.end != d.start {
		return ErrTruncated
	}
	return nil
}
