package match

import (
	"math/rand/v2"
	"testing"
)

// TestHash192IsTwoHash128 checks that hash192, written out step by step so that it
// inlines, is still hash128 of hash128: the window's hashes (and so its layout and the
// probes the tests count) are those of before.
func TestHash192IsTwoHash128(t *testing.T) {
	random := rand.New(rand.NewPCG(43, 192))
	for range 10000 {
		x, y, z, seed := random.Uint64(), random.Uint64(), random.Uint64(), random.Uint64()
		if got, want := hash192(x, y, z, seed), hash128(hash128(x, y, seed), z, seed); got != want {
			t.Fatalf("hash192(%#x, %#x, %#x, %#x) = %#x, want %#x", x, y, z, seed, got, want)
		}
	}
}
