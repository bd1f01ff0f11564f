//go:build !amd64

package wire

// checksum is a frame's CRC-32C: the header before the checksum field, then the body.
func checksum(headerPrefix []byte, body []byte) uint32 {
	return checksumPortable(headerPrefix, body)
}
