package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"sequent/core/model"
	"sequent/netio/client"
)

// newMarketDataCommand is `sequent client md`: a live book in the terminal, kept by
// client.FollowBook (PROTOCOL.md 8a).
func newMarketDataCommand(options *clientOptions) *cobra.Command {
	var instrument uint32
	var levels, trades int
	var once bool
	var duration time.Duration
	cmd := &cobra.Command{
		Use:   "md",
		Short: "Show an instrument's live order book and last trades (market data)",
		Long: `Follow an instrument's market data and show its book, refreshed in place: the best
levels of each side, the last trades, the market-data sequence and the log op the book is
at. The book is built as PROTOCOL.md section 8a describes (subscribe, snapshot, apply,
resnapshot on a gap) and survives reconnects and failovers. Ctrl-C ends it.`,
		Example: "  sequent client md --instrument 5\n  sequent client md --instrument 5 --once",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if instrument == 0 {
				return usage(cmd, "--instrument is required")
			}
			return options.run(cmd, func(_ context.Context, c *client.Client) error {
				ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt,
					syscall.SIGTERM)
				defer stop()
				if duration > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, duration)
					defer cancel()
				}
				view := &bookView{out: cmd.OutOrStdout(), levels: levels, tradesMax: trades,
					once: once, stop: stop, clear: !once}
				err := client.FollowBook(ctx, c, instrument, view.changed)
				view.render(true)
				if ctx.Err() != nil {
					return nil // Ctrl-C, --duration or --once: a normal end.
				}
				return err
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint32Var(&instrument, "instrument", 0, "instrument id (required)")
	flags.IntVar(&levels, "levels", 10, "levels shown per side")
	flags.IntVar(&trades, "trades", 10, "last trades shown")
	flags.BoolVar(&once, "once", false, "print the book once it is built, then exit")
	flags.DurationVar(&duration, "duration", 0, "stop after this long (0: until Ctrl-C)")
	return cmd
}

// bookView renders the followed book, at most every bookRefreshInterval.
type bookView struct {
	mutex     sync.Mutex
	out       io.Writer
	levels    int
	tradesMax int
	once      bool
	clear     bool
	stop      func()
	builder   *client.BookBuilder
	trades    []model.MarketDataUpdate
	rendered  time.Time
}

const bookRefreshInterval = 100 * time.Millisecond

func (v *bookView) changed(b *client.BookBuilder, updates []model.MarketDataUpdate) {
	v.mutex.Lock()
	v.builder = b
	for _, u := range updates {
		if u.Kind == model.MarketDataTrade {
			v.trades = append(v.trades, u)
		}
	}
	if over := len(v.trades) - v.tradesMax; over > 0 {
		v.trades = append(v.trades[:0], v.trades[over:]...)
	}
	v.mutex.Unlock()
	if v.once {
		v.stop()
		return
	}
	v.render(false)
}

// render draws the book (forced: whatever the last refresh).
func (v *bookView) render(force bool) {
	v.mutex.Lock()
	defer v.mutex.Unlock()
	if v.builder == nil || (!force && time.Since(v.rendered) < bookRefreshInterval) {
		return
	}
	v.rendered = time.Now()
	book := &v.builder.Book
	if v.clear {
		fmt.Fprint(v.out, "\x1b[H\x1b[2J") // Home and clear: refresh in place.
	}
	fmt.Fprintf(v.out, "instrument %d  sequence %d  op %d  snapshots %d\n", book.Instrument,
		book.Sequence, book.Op, v.builder.Snapshots)
	fmt.Fprintf(v.out, "%24s | %-24s\n", "bids (qty @ price)", "asks (price x qty)")
	bids, asks := book.Levels(model.SideBuy, v.levels), book.Levels(model.SideSell, v.levels)
	for i := range max(len(bids), len(asks)) {
		left, right := "", ""
		if i < len(bids) {
			left = fmt.Sprintf("%s @ %d", bids[i].Quantity, bids[i].Price)
		}
		if i < len(asks) {
			right = fmt.Sprintf("%d x %s", asks[i].Price, asks[i].Quantity)
		}
		fmt.Fprintf(v.out, "%24s | %-24s\n", left, right)
	}
	fmt.Fprintln(v.out, "last trades:")
	for i := len(v.trades) - 1; i >= 0; i-- {
		t := &v.trades[i]
		side := "buy"
		if t.Side == model.SideSell {
			side = "sell"
		}
		fmt.Fprintf(v.out, "  #%d %s %s @ %d (sequence %d)\n", t.TradeID, side, t.Quantity,
			t.Price, t.Sequence)
	}
}
