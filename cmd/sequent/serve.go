package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"sequent/core/ledger"
	"sequent/core/model"
)

// newServeCommand returns `sequent serve`. The network server is not built yet: for now
// it runs the ledger in-process on a small scripted workload and prints what happened.
func newServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the server (for now: the ledger in-process, no network yet)",
		Long: `Run the Sequent server.

NOT BUILT YET: the binary protocol server lands with the network issue. Until then this
command runs the ledger core in-process: it creates two accounts, moves money between them
(single-phase, pending and post), prints every result and the state digest, and exits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveDemo(cmd)
		},
	}
}

func serveDemo(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, "sequent serve: network server not built yet; running the ledger in-process")
	l := ledger.New(ledger.Config{})
	timestamp := uint64(time.Now().UnixNano())
	accounts := []model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1, Flags: model.AccountDebitsMustNotExceedCredits},
	}
	accountResults := make([]model.EventResult, len(accounts))
	l.CreateAccounts(timestamp, accounts, accountResults)
	for i, result := range accountResults {
		fmt.Fprintf(out, "create account %s: %s\n", accounts[i].ID, result.Status)
	}
	timestamp += uint64(len(accounts))
	transfers := []model.Transfer{
		{ID: model.U128(10), DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
			Amount: model.U128(100), Ledger: 1, Code: 1},
		{ID: model.U128(11), DebitAccountID: model.U128(2), CreditAccountID: model.U128(1),
			Amount: model.U128(500), Ledger: 1, Code: 1},
		{ID: model.U128(12), DebitAccountID: model.U128(2), CreditAccountID: model.U128(1),
			Amount: model.U128(40), Ledger: 1, Code: 1, Flags: model.TransferPending},
		{ID: model.U128(13), PendingID: model.U128(12), Amount: model.U128(25),
			Flags: model.TransferPostPending},
	}
	transferResults := make([]model.TransferResult, len(transfers))
	l.CreateTransfers(timestamp, transfers, transferResults)
	for i, result := range transferResults {
		fmt.Fprintf(out, "create transfer %s: %s\n", transfers[i].ID, result.Status)
	}
	for account := range l.Accounts() {
		fmt.Fprintf(out, "account %s: debits posted %s, credits posted %s\n", account.ID,
			account.DebitsPosted, account.CreditsPosted)
	}
	fmt.Fprintf(out, "state digest %x\n", l.Digest())
	return nil
}
