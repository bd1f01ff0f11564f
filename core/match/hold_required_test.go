package match

import (
	"math"
	"math/rand/v2"
	"testing"

	"sequent/core/model"
)

// TestHoldRequiredWithOfLargeProducts checks a limit buy's hold, reserve price times
// lots, against model.Uint128.Mul64 where the product needs more than 64 bits (no test
// workload reaches them): holdRequiredWith multiplies with bits.Mul64 to stay inlinable,
// and must keep the high word.
func TestHoldRequiredWithOfLargeProducts(t *testing.T) {
	random := rand.New(rand.NewPCG(43, 128))
	buy := &order{side: model.SideBuy, orderType: model.OrderLimit}
	prices := []uint64{math.MaxUint64, 1 << 63, 3 << 40}
	for range 1000 {
		prices = append(prices, random.Uint64())
	}
	for _, price := range prices {
		leaves, lotSize := random.Uint64()|1<<62, uint64(1+random.IntN(8))
		want, overflow := model.U128(price).Mul64(leaves / lotSize)
		if overflow {
			t.Fatalf("%d × %d overflows 128 bits", price, leaves/lotSize)
		}
		if got := holdRequiredWith(buy, leaves, price, model.Uint128{}, lotSize); got != want {
			t.Fatalf("hold of %d lots at %d = %s, want %s", leaves/lotSize, price, got, want)
		}
		if want.Hi == 0 && price > 1 {
			t.Fatalf("%d × %d should need the high word", price, leaves/lotSize)
		}
	}
}
