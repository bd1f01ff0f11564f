package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"sequent/core/model"
	"sequent/core/node"
	"sequent/core/shardmap"
	"sequent/netio"
	"sequent/netio/client"
	"sequent/netio/jsonview"
)

// clientOptions are the flags shared by every `sequent client` subcommand.
type clientOptions struct {
	addresses string        // Comma-separated host:port list (SEQUENT_ADDR).
	clientID  uint64        // Client id (SEQUENT_CLIENT_ID); 0: the keys file's only client.
	keyID     uint32        // Key id (SEQUENT_KEY_ID); 0: the client's newest key.
	secret    string        // Hex secret (SEQUENT_SECRET); else read from the keys file.
	keys      string        // Keys file (SEQUENT_KEYS); default ./sequent-data/keys.json.
	timeout   time.Duration // Bound on connecting plus the whole command.
	asJSON    bool          // Print JSON for scripts.
}

// errEventsFailed makes the command exit 1 after printing results of which some failed.
var errEventsFailed = errors.New("some events were not applied (see above)")

// newClientCommand returns `sequent client`: one-shot requests to a running server.
func newClientCommand() *cobra.Command {
	options := &clientOptions{}
	command := &cobra.Command{
		Use:   "client",
		Short: "Send requests to a running server (accounts, transfers, lookups, orders)",
		Long: `Send requests to a running Sequent server over the binary protocol and print
the results: readable text by default, JSON with --json.

Credentials come from flags, else SEQUENT_* environment variables, else the keys file
(--keys, default ./sequent-data/keys.json, the development key 'sequent serve' creates).

Exit codes: 0 all events applied (or already existed); 1 a request or an event was
refused (the status is printed); 2 bad flags or no server reachable.`,
		Example: `  sequent client create-accounts 1 2 --ledger 1 --code 10
  sequent client transfer --id 100 --debit 1 --credit 2 --amount 250 --ledger 1 --code 1
  sequent client lookup-accounts 1 2 --json
  sequent client lookup-transfers 100 --addr 10.0.0.1:7400,10.0.0.2:7400`,
	}
	flags := command.PersistentFlags()
	options.addConnectionFlags(flags)
	flags.DurationVar(&options.timeout, "timeout", 10*time.Second,
		"give up after this long (connect and request)")
	flags.BoolVar(&options.asJSON, "json", false, "print JSON instead of text")
	command.AddCommand(
		newCreateAccountsCommand(options),
		newTransferCommand(options),
		newPostVoidCommand(options, "post"),
		newPostVoidCommand(options, "void"),
		newLinkedCommand(options),
		newConvertCommand(options),
		newLookupCommand(options, "lookup-accounts"),
		newLookupCommand(options, "lookup-transfers"),
		newAccountQueryCommand(options, "account-transfers"),
		newAccountQueryCommand(options, "balance-history"),
	)
	command.AddCommand(newMatchingCommands(options)...)
	command.AddCommand(newMarketDataCommand(options))
	return command
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}

func envUint(name string) uint64 {
	value, _ := strconv.ParseUint(os.Getenv(name), 10, 64)
	return value
}

// usage wraps an error as the user's (exit 2), naming the command's help.
func usage(cmd *cobra.Command, format string, args ...any) error {
	return usageError{fmt.Errorf(format+" (see '%s --help')",
		append(args, cmd.CommandPath())...)}
}

// secretFlag is a string flag that never shows its value: --help prints every flag's
// default, and a secret's default comes from the environment (secretVar).
type secretFlag struct{ value *string }

func (f secretFlag) String() string { return "" }

func (f secretFlag) Set(value string) error {
	*f.value = value
	return nil
}

func (f secretFlag) Type() string { return "string" }

// secretVar defines a secret string flag whose default is the environment variable
// environment, read now as the other flags' are, and never printed.
func secretVar(flags *pflag.FlagSet, target *string, name, environment, usage string) {
	*target = os.Getenv(environment)
	flags.Var(secretFlag{target}, name, usage)
}

// addConnectionFlags defines where and as whom to connect: --addr, --client-id, --key-id,
// --secret and --keys, each defaulting to its SEQUENT_* variable (shared by client and
// bench).
func (o *clientOptions) addConnectionFlags(flags *pflag.FlagSet) {
	flags.StringVar(&o.addresses, "addr", envOr("SEQUENT_ADDR", "127.0.0.1:7400"),
		"server addresses to try, comma-separated (SEQUENT_ADDR)")
	flags.Uint64Var(&o.clientID, "client-id", envUint("SEQUENT_CLIENT_ID"),
		"client id (SEQUENT_CLIENT_ID; default: the keys file's only client)")
	flags.Uint32Var(&o.keyID, "key-id", uint32(envUint("SEQUENT_KEY_ID")),
		"key id (SEQUENT_KEY_ID; default: the client's newest key)")
	secretVar(flags, &o.secret, "secret", "SEQUENT_SECRET",
		"the key's secret in hex (SEQUENT_SECRET; default: from the keys file)")
	flags.StringVar(&o.keys, "keys", envOr("SEQUENT_KEYS", node.Layout{Dir: "sequent-data"}.KeysPath()),
		"keys file to read the secret from (SEQUENT_KEYS)")
}

// credentials resolves the client id, key id and secret from flags, environment and the
// keys file.
func (o *clientOptions) credentials(cmd *cobra.Command) (uint64, uint32, []byte, error) {
	if o.secret != "" {
		secret, err := hex.DecodeString(o.secret)
		if err != nil || len(secret) == 0 {
			return 0, 0, nil, usage(cmd, "--secret is not hex")
		}
		if o.clientID == 0 || o.keyID == 0 {
			return 0, 0, nil, usage(cmd, "--secret needs --client-id and --key-id")
		}
		return o.clientID, o.keyID, secret, nil
	}
	data, err := os.ReadFile(o.keys)
	if err != nil {
		return 0, 0, nil, usage(cmd, "no credentials: pass --secret (with --client-id and "+
			"--key-id) or --keys: %v", err)
	}
	file, err := netio.ParseKeysFile(data)
	if err != nil {
		return 0, 0, nil, usage(cmd, "%s: %v", o.keys, err)
	}
	return o.pickKey(cmd, file)
}

func (o *clientOptions) pickKey(cmd *cobra.Command, file netio.KeysFile) (uint64, uint32,
	[]byte, error) {
	var chosen *netio.KeysFileClient
	for i := range file.Clients {
		if file.Clients[i].ID == o.clientID || (o.clientID == 0 && len(file.Clients) == 1) {
			chosen = &file.Clients[i]
		}
	}
	if chosen == nil {
		return 0, 0, nil, usage(cmd, "keys file %s: no client %d (pass --client-id)", o.keys,
			o.clientID)
	}
	keys := append([]netio.KeysFileKey(nil), chosen.Keys...)
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID > keys[j].ID })
	for _, key := range keys {
		if o.keyID == 0 || key.ID == o.keyID {
			secret, _ := hex.DecodeString(key.Secret) // Validated by ParseKeysFile.
			return chosen.ID, key.ID, secret, nil
		}
	}
	return 0, 0, nil, usage(cmd, "keys file %s: client %d has no key %d", o.keys, chosen.ID,
		o.keyID)
}

// run connects, calls fn with the client, and closes. An unreachable server or refused
// login is a usage-class failure (exit 2).
func (o *clientOptions) run(cmd *cobra.Command, fn func(ctx context.Context,
	c *client.Client) error) error {
	clientID, keyID, secret, err := o.credentials(cmd)
	if err != nil {
		return err
	}
	var addresses []string
	for _, address := range strings.Split(o.addresses, ",") {
		if address = strings.TrimSpace(address); address != "" {
			addresses = append(addresses, address)
		}
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Addresses: addresses, Client: clientID,
		Key: keyID, Secret: secret, DialTimeout: o.timeout})
	if err != nil {
		return usageError{fmt.Errorf("cannot connect: %w", err)}
	}
	defer c.Close()
	return fn(ctx, c)
}

// parseID parses a 128-bit id or amount in decimal (or "max" for 2^128-1).
func parseID(cmd *cobra.Command, name, text string) (model.Uint128, error) {
	if text == "max" {
		return model.Uint128Max, nil
	}
	value, err := model.ParseUint128(text)
	if err != nil {
		return model.Uint128{}, usage(cmd, "--%s %q: %v", name, text, err)
	}
	return value, nil
}

// flagNames maps flag names to record flag bits.
func parseFlagNames(cmd *cobra.Command, text string, names map[string]uint16) (uint16,
	error) {
	var flags uint16
	for _, name := range strings.Split(text, ",") {
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		bit, ok := names[name]
		if !ok {
			known := make([]string, 0, len(names))
			for known1 := range names {
				known = append(known, known1)
			}
			sort.Strings(known)
			return 0, usage(cmd, "--flags: unknown flag %q (known: %s)", name,
				strings.Join(known, ", "))
		}
		flags |= bit
	}
	return flags, nil
}

var accountFlagNames = map[string]uint16{
	"linked":                         model.AccountLinked,
	"debits-must-not-exceed-credits": model.AccountDebitsMustNotExceedCredits,
	"credits-must-not-exceed-debits": model.AccountCreditsMustNotExceedDebits,
	"history":                        model.AccountHistory,
	"closed":                         model.AccountClosed,
}

var transferFlagNames = map[string]uint16{
	"linked":           model.TransferLinked,
	"pending":          model.TransferPending,
	"post-pending":     model.TransferPostPending,
	"void-pending":     model.TransferVoidPending,
	"balancing-debit":  model.TransferBalancingDebit,
	"balancing-credit": model.TransferBalancingCredit,
	"closing-debit":    model.TransferClosingDebit,
	"closing-credit":   model.TransferClosingCredit,
}

// userData are the three user data fields shared by accounts and transfers.
type userData struct {
	data128 string
	data64  uint64
	data32  uint32
}

func (u *userData) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&u.data128, "user-data-128", "0", "opaque 128-bit user data")
	cmd.Flags().Uint64Var(&u.data64, "user-data-64", 0, "opaque 64-bit user data")
	cmd.Flags().Uint32Var(&u.data32, "user-data-32", 0, "opaque 32-bit user data")
}

func newCreateAccountsCommand(options *clientOptions) *cobra.Command {
	var ledger uint32
	var code uint16
	var flagText string
	var data userData
	cmd := &cobra.Command{
		Use:   "create-accounts ID...",
		Short: "Create accounts with the given ids (with --flags linked: all or none)",
		Example: `  sequent client create-accounts 1 2 --ledger 1 --code 10
  sequent client create-accounts 3 --ledger 1 --code 10 \
      --flags history,debits-must-not-exceed-credits`,
		Args: minimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			flags, err := parseFlagNames(cmd, flagText, accountFlagNames)
			if err != nil {
				return err
			}
			data128, err := parseID(cmd, "user-data-128", data.data128)
			if err != nil {
				return err
			}
			accounts := make([]model.Account, len(args))
			for i, arg := range args {
				id, err := parseID(cmd, "id", arg)
				if err != nil {
					return err
				}
				accounts[i] = model.Account{ID: id, Ledger: ledger, Code: code, Flags: flags,
					UserData128: data128, UserData64: data.data64, UserData32: data.data32}
			}
			// linked makes the ids one chain: the last account closes it. With the flag on
			// every account the chain never closed and each was refused
			// (linked_event_chain_open, linked_event_failed).
			accounts[len(accounts)-1].Flags &^= model.AccountLinked
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				results, err := c.CreateAccounts(ctx, accounts)
				if err != nil {
					return err
				}
				ids := make([]model.Uint128, len(accounts))
				for i := range accounts {
					ids[i] = accounts[i].ID
				}
				return printEventResults(cmd, options, "account", ids, results)
			})
		},
	}
	cmd.Flags().Uint32Var(&ledger, "ledger", 0, "ledger (asset) of the accounts (required)")
	cmd.Flags().Uint16Var(&code, "code", 0, "account type code (required)")
	cmd.Flags().StringVar(&flagText, "flags", "", "comma-separated: linked (the ids form one "+
		"chain: all are created or none), history, debits-must-not-exceed-credits, "+
		"credits-must-not-exceed-debits, closed")
	data.register(cmd)
	return cmd
}

// transferFields are the flags of one transfer.
type transferFields struct {
	id, debit, credit, amount, pendingID string
	ledger                               uint32
	code                                 uint16
	timeout                              uint32
	flagText                             string
	pending                              bool
	data                                 userData
}

func (f *transferFields) transfer(cmd *cobra.Command) (model.Transfer, error) {
	var t model.Transfer
	var err error
	fields := []struct {
		name, text string
		into       *model.Uint128
	}{{"id", f.id, &t.ID}, {"debit", f.debit, &t.DebitAccountID},
		{"credit", f.credit, &t.CreditAccountID}, {"amount", f.amount, &t.Amount},
		{"pending-id", f.pendingID, &t.PendingID}, {"user-data-128", f.data.data128,
			&t.UserData128}}
	for _, field := range fields {
		if *field.into, err = parseID(cmd, field.name, field.text); err != nil {
			return t, err
		}
	}
	if t.Flags, err = parseFlagNames(cmd, f.flagText, transferFlagNames); err != nil {
		return t, err
	}
	if f.pending {
		t.Flags |= model.TransferPending
	}
	t.Ledger, t.Code, t.Timeout = f.ledger, f.code, f.timeout
	t.UserData64, t.UserData32 = f.data.data64, f.data.data32
	return t, nil
}

func (f *transferFields) register(cmd *cobra.Command, withAccounts bool) {
	flags := cmd.Flags()
	flags.StringVar(&f.id, "id", "0", "transfer id (required, unique forever)")
	flags.StringVar(&f.amount, "amount", "0", "amount ('max' with post: the full pending amount)")
	flags.StringVar(&f.pendingID, "pending-id", "0", "the pending transfer (post and void)")
	flags.Uint32Var(&f.ledger, "ledger", 0, "ledger (0 inherits for post and void)")
	flags.Uint16Var(&f.code, "code", 0, "reason code (0 inherits for post and void)")
	flags.StringVar(&f.debit, "debit", "0", "debit account id")
	flags.StringVar(&f.credit, "credit", "0", "credit account id")
	if withAccounts {
		flags.BoolVar(&f.pending, "pending", false, "two-phase: reserve now, post or void later")
		flags.Uint32Var(&f.timeout, "timeout-seconds", 0, "pending transfers: expire after "+
			"this many seconds (0 never)")
		flags.StringVar(&f.flagText, "flags", "", "comma-separated transfer flags: pending, "+
			"balancing-debit, balancing-credit, closing-debit, closing-credit (a chain: "+
			"'sequent client linked')")
	}
	f.data.register(cmd)
}

func newTransferCommand(options *clientOptions) *cobra.Command {
	var fields transferFields
	cmd := &cobra.Command{
		Use:   "transfer",
		Short: "Move an amount from a debit account to a credit account (or reserve it with --pending)",
		Example: `  sequent client transfer --id 100 --debit 1 --credit 2 --amount 250 --ledger 1 --code 1
  sequent client transfer --id 101 --debit 1 --credit 2 --amount 40 --ledger 1 --code 1 --pending`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := fields.transfer(cmd)
			if err != nil {
				return err
			}
			if t.Flags&model.TransferLinked != 0 {
				// One transfer with linked opens a chain nothing closes: the node can
				// only refuse it (linked_event_chain_open), exit 1, naming no flag.
				return usage(cmd, "--flags linked: one transfer cannot close its chain "+
					"(use 'sequent client linked' with two or more --leg)")
			}
			return sendTransfers(cmd, options, []model.Transfer{t})
		},
	}
	fields.register(cmd, true)
	return cmd
}

func newPostVoidCommand(options *clientOptions, verb string) *cobra.Command {
	var fields transferFields
	flag := model.TransferPostPending
	short := "Post (complete) a pending transfer, for its full amount or --amount"
	if verb == "void" {
		flag, short = model.TransferVoidPending, "Void (cancel) a pending transfer"
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Example: "  sequent client " + verb + " --id 102 --pending-id 101",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := fields.transfer(cmd)
			if err != nil {
				return err
			}
			t.Flags |= flag
			return sendTransfers(cmd, options, []model.Transfer{t})
		},
	}
	fields.register(cmd, false)
	if verb == "post" {
		_ = cmd.Flags().Set("amount", "max")
		cmd.Flags().Lookup("amount").DefValue = "max"
	}
	return cmd
}

func newLinkedCommand(options *clientOptions) *cobra.Command {
	var legs []string
	var ledger uint32
	var code uint16
	cmd := &cobra.Command{
		Use:   "linked",
		Short: "Apply several transfers atomically: all succeed or none does",
		Example: `  sequent client linked --ledger 1 --code 1 \
      --leg 200:1:2:100 --leg 201:2:3:100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(legs) < 2 {
				return usage(cmd, "a linked chain needs at least two --leg")
			}
			transfers := make([]model.Transfer, len(legs))
			for i, leg := range legs {
				parts := strings.Split(leg, ":")
				if len(parts) != 4 {
					return usage(cmd, "--leg %q: want ID:DEBIT:CREDIT:AMOUNT", leg)
				}
				values := make([]model.Uint128, 4)
				for j, part := range parts {
					value, err := parseID(cmd, "leg", part)
					if err != nil {
						return err
					}
					values[j] = value
				}
				transfers[i] = model.Transfer{ID: values[0], DebitAccountID: values[1],
					CreditAccountID: values[2], Amount: values[3], Ledger: ledger, Code: code}
				if i < len(legs)-1 {
					transfers[i].Flags = model.TransferLinked
				}
			}
			return sendTransfers(cmd, options, transfers)
		},
	}
	cmd.Flags().StringArrayVar(&legs, "leg", nil, "ID:DEBIT:CREDIT:AMOUNT, repeated")
	cmd.Flags().Uint32Var(&ledger, "ledger", 0, "ledger of every leg")
	cmd.Flags().Uint16Var(&code, "code", 0, "code of every leg")
	return cmd
}

func sendTransfers(cmd *cobra.Command, options *clientOptions,
	transfers []model.Transfer) error {
	return options.run(cmd, func(ctx context.Context, c *client.Client) error {
		results, err := c.CreateTransfers(ctx, transfers)
		if err != nil {
			return err
		}
		ids := make([]model.Uint128, len(transfers))
		for i := range transfers {
			ids[i] = transfers[i].ID
		}
		return printEventResults(cmd, options, "transfer", ids, results)
	})
}

// printEventResults prints one line per event and fails (exit 1) if any event was
// refused; exists counts as success, so re-running a command is harmless.
func printEventResults(cmd *cobra.Command, options *clientOptions, noun string,
	ids []model.Uint128, results []model.EventResult) error {
	failed := false
	rows := make([]jsonview.Result, len(results))
	for i, result := range results {
		rows[i] = jsonview.NewResult(ids[i], &result)
		failed = failed || (result.Status != model.StatusOK && result.Status != model.StatusExists)
	}
	if options.asJSON {
		if err := writeJSON(cmd.OutOrStdout(), rows); err != nil {
			return err
		}
	} else {
		for _, row := range rows {
			rule := ""
			if row.Rule != 0 {
				rule = fmt.Sprintf(" by risk rule %d", row.Rule)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s%s\n", noun, row.ID,
				describeStatus(model.Status(row.Code)), rule)
		}
	}
	if failed {
		return errEventsFailed
	}
	return nil
}

// describeStatus is the readable form of a status: its name and number, with a plain
// phrase for success.
func describeStatus(status model.Status) string {
	switch status {
	case model.StatusOK:
		return "created"
	case model.StatusExists:
		return "already exists, identical (exists, 14)"
	}
	return fmt.Sprintf("refused: %s (%d)", status, uint32(status))
}

func writeJSON(out io.Writer, value any) error {
	encoder := json.NewEncoder(out)
	encoder.SetIndent("", "  ")
	return encoder.Encode(value)
}

func newLookupCommand(options *clientOptions, name string) *cobra.Command {
	noun := "accounts"
	if name == "lookup-transfers" {
		noun = "transfers"
	}
	return &cobra.Command{
		Use:     name + " ID...",
		Short:   "Look " + noun + " up by id",
		Example: "  sequent client " + name + " 1 2 3",
		Args:    minimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]model.Uint128, len(args))
			for i, arg := range args {
				id, err := parseID(cmd, "id", arg)
				if err != nil {
					return err
				}
				ids[i] = id
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				if noun == "accounts" {
					accounts, err := c.LookupAccounts(ctx, ids)
					if err != nil {
						return err
					}
					return printAccounts(cmd, options, accounts, len(ids))
				}
				transfers, err := c.LookupTransfers(ctx, ids)
				if err != nil {
					return err
				}
				return printTransfers(cmd, options, transfers, len(ids))
			})
		},
	}
}

func newAccountQueryCommand(options *clientOptions, name string) *cobra.Command {
	var limit uint32
	var reversed, debitsOnly, creditsOnly bool
	var from, to uint64
	cmd := &cobra.Command{
		Use:     name + " ACCOUNT_ID",
		Short:   "List an account's transfers",
		Example: "  sequent client " + name + " 1 --limit 20 --reversed",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(cmd, "account", args[0])
			if err != nil {
				return err
			}
			// The server would answer invalid_filter (69), exit 1, naming no flag.
			switch {
			case limit < 1 || limit > model.EventsPerRequestMax:
				return usage(cmd, "--limit %d: want 1 to %d", limit, model.EventsPerRequestMax)
			case to != 0 && from > to:
				return usage(cmd, "--from %d is after --to %d", from, to)
			case debitsOnly && creditsOnly:
				return usage(cmd, "give at most one of --debits and --credits (neither: both sides)")
			}
			filter := model.AccountFilter{AccountID: id, Limit: limit, TimestampMin: from,
				TimestampMax: to, Flags: model.FilterDebits | model.FilterCredits}
			if debitsOnly {
				filter.Flags = model.FilterDebits
			}
			if creditsOnly {
				filter.Flags = model.FilterCredits
			}
			if reversed {
				filter.Flags |= model.FilterReversed
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				if name == "account-transfers" {
					transfers, err := c.GetAccountTransfers(ctx, filter)
					if err != nil {
						return err
					}
					return printTransfers(cmd, options, transfers, -1)
				}
				balances, err := c.GetAccountBalances(ctx, filter)
				if err != nil {
					return err
				}
				return printBalances(cmd, options, balances)
			})
		},
	}
	if name == "balance-history" {
		cmd.Short = "List an account's balances after each of its transfers (history flag)"
	}
	flags := cmd.Flags()
	flags.Uint32Var(&limit, "limit", 100, "most results (1 to 8189)")
	flags.BoolVar(&reversed, "reversed", false, "newest first")
	flags.BoolVar(&debitsOnly, "debits", false, "only transfers debiting the account")
	flags.BoolVar(&creditsOnly, "credits", false, "only transfers crediting the account")
	flags.Uint64Var(&from, "from", 0, "only at or after this timestamp (ns)")
	flags.Uint64Var(&to, "to", 0, "only at or before this timestamp (ns)")
	return cmd
}

func printAccounts(cmd *cobra.Command, options *clientOptions, accounts []model.Account,
	asked int) error {
	if options.asJSON {
		rows := make([]jsonview.Account, len(accounts))
		for i := range accounts {
			rows[i] = jsonview.NewAccount(&accounts[i])
		}
		return writeJSON(cmd.OutOrStdout(), rows)
	}
	out := cmd.OutOrStdout()
	for _, a := range accounts {
		fmt.Fprintf(out, "account %s ledger %d code %d flags %#x\n", a.ID, a.Ledger, a.Code,
			a.Flags)
		fmt.Fprintf(out, "  debits  posted %s pending %s\n", a.DebitsPosted, a.DebitsPending)
		fmt.Fprintf(out, "  credits posted %s pending %s\n", a.CreditsPosted, a.CreditsPending)
	}
	fmt.Fprintf(out, "%d of %d found\n", len(accounts), asked)
	return nil
}

func printTransfers(cmd *cobra.Command, options *clientOptions, transfers []model.Transfer,
	asked int) error {
	if options.asJSON {
		rows := make([]jsonview.Transfer, len(transfers))
		for i := range transfers {
			rows[i] = jsonview.NewTransfer(&transfers[i])
		}
		return writeJSON(cmd.OutOrStdout(), rows)
	}
	out := cmd.OutOrStdout()
	for _, t := range transfers {
		fmt.Fprintf(out, "transfer %s: %s from %s to %s ledger %d code %d flags %#x at %d",
			t.ID, t.Amount, t.DebitAccountID, t.CreditAccountID, t.Ledger, t.Code, t.Flags,
			t.Timestamp)
		if !t.PendingID.IsZero() {
			fmt.Fprintf(out, " (pending %s)", t.PendingID)
		}
		fmt.Fprintln(out)
	}
	if asked >= 0 {
		fmt.Fprintf(out, "%d of %d found\n", len(transfers), asked)
	} else {
		fmt.Fprintf(out, "%d transfers\n", len(transfers))
	}
	return nil
}

func printBalances(cmd *cobra.Command, options *clientOptions,
	balances []model.AccountBalance) error {
	rows := make([]jsonview.Balance, len(balances))
	for i := range balances {
		rows[i] = jsonview.NewBalance(&balances[i])
	}
	if options.asJSON {
		return writeJSON(cmd.OutOrStdout(), rows)
	}
	out := cmd.OutOrStdout()
	for _, row := range rows {
		fmt.Fprintf(out, "at %d: debits posted %s pending %s, credits posted %s pending %s\n",
			row.Timestamp, row.DebitsPosted, row.DebitsPending, row.CreditsPosted,
			row.CreditsPending)
	}
	fmt.Fprintf(out, "%d entries\n", len(rows))
	return nil
}

// minimumArgs is cobra.MinimumNArgs with a usage error (exit 2).
func minimumArgs(count int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < count {
			return usage(cmd, "needs at least %d argument(s)", count)
		}
		return nil
	}
}

var (
	sideNames = map[string]model.Side{"buy": model.SideBuy, "sell": model.SideSell}
	typeNames = map[string]model.OrderType{"limit": model.OrderLimit,
		"market": model.OrderMarket}
	tifNames = map[string]model.TimeInForce{"gtc": model.GoodTillCancel,
		"ioc": model.ImmediateOrCancel, "fok": model.FillOrKill, "post-only": model.PostOnly}
	tradeNames = map[string]model.SelfTradeMode{"default": model.SelfTradeDefault,
		"cancel-newest": model.SelfTradeCancelNewest,
		"cancel-oldest": model.SelfTradeCancelOldest, "cancel-both": model.SelfTradeCancelBoth}
)

func pick[T any](cmd *cobra.Command, flag, text string, names map[string]T) (T, error) {
	value, ok := names[text]
	if !ok {
		known := make([]string, 0, len(names))
		for name := range names {
			known = append(known, name)
		}
		sort.Strings(known)
		return value, usage(cmd, "--%s %q: want one of %s", flag, text, strings.Join(known, ", "))
	}
	return value, nil
}

// newMatchingCommands returns the order-book subcommands: instrument, order, depth and
// reports.
func newMatchingCommands(options *clientOptions) []*cobra.Command {
	instrument := &cobra.Command{Use: "instrument", Short: "Create and look up instruments"}
	instrument.AddCommand(newInstrumentCreateCommand(options), newInstrumentLookupCommand(options))
	order := &cobra.Command{Use: "order", Short: "Place, cancel, replace and list orders"}
	order.AddCommand(newOrderPlaceCommand(options), newOrderCancelCommand(options, false),
		newOrderCancelCommand(options, true), newMassCancelCommand(options),
		newOrderLookupCommand(options), newOrderListCommand(options))
	return []*cobra.Command{instrument, order, newDepthCommand(options),
		newReportsCommand(options)}
}

func newInstrumentCreateCommand(options *clientOptions) *cobra.Command {
	var x model.Instrument
	var feeBase, feeQuote string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create an order book between a base and a quote ledger (admin)",
		Example: `  sequent client instrument create --id 1 --base-ledger 2 --quote-ledger 1 \
      --tick-size 1 --lot-size 1 --quantity-min 1 --quantity-max 1000000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if x.FeeBaseAccountID, err = parseID(cmd, "fee-base-account", feeBase); err != nil {
				return err
			}
			if x.FeeQuoteAccountID, err = parseID(cmd, "fee-quote-account", feeQuote); err != nil {
				return err
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				results, err := c.CreateInstruments(ctx, []model.Instrument{x})
				if err != nil {
					return err
				}
				return printEventResults(cmd, options, "instrument",
					[]model.Uint128{model.U128(uint64(x.ID))}, results)
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint32Var(&x.ID, "id", 0, "instrument id (not 0)")
	flags.Uint32Var(&x.BaseLedger, "base-ledger", 0, "ledger of the traded asset")
	flags.Uint32Var(&x.QuoteLedger, "quote-ledger", 0, "ledger of the pricing asset")
	flags.Uint64Var(&x.TickSize, "tick-size", 1, "prices are multiples of this")
	flags.Uint64Var(&x.LotSize, "lot-size", 1, "quantities are multiples of this")
	flags.Uint64Var(&x.QuantityMin, "quantity-min", 1, "smallest order quantity")
	flags.Uint64Var(&x.QuantityMax, "quantity-max", 1<<40, "largest order quantity")
	flags.Uint16Var(&x.MakerFeeBasisPoints, "maker-fee-bps", 0, "maker fee (1/10,000)")
	flags.Uint16Var(&x.TakerFeeBasisPoints, "taker-fee-bps", 0, "taker fee (1/10,000)")
	flags.StringVar(&feeBase, "fee-base-account", "0", "account receiving base fees")
	flags.StringVar(&feeQuote, "fee-quote-account", "0", "account receiving quote fees")
	return cmd
}

func newInstrumentLookupCommand(options *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "lookup ID...",
		Short: "Look instruments up by id",
		Args:  minimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]uint32, len(args))
			for i, arg := range args {
				id, err := strconv.ParseUint(arg, 10, 32)
				if err != nil {
					return usage(cmd, "instrument id %q: %v", arg, err)
				}
				ids[i] = uint32(id)
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				instruments, err := c.LookupInstruments(ctx, ids)
				if err != nil {
					return err
				}
				if options.asJSON {
					rows := make([]map[string]any, len(instruments))
					for i, x := range instruments {
						rows[i] = map[string]any{"id": x.ID, "base_ledger": x.BaseLedger,
							"quote_ledger": x.QuoteLedger, "tick_size": x.TickSize,
							"lot_size": x.LotSize, "quantity_min": x.QuantityMin,
							"quantity_max": x.QuantityMax, "maker_fee_bps": x.MakerFeeBasisPoints,
							"taker_fee_bps":        x.TakerFeeBasisPoints,
							"fee_base_account_id":  x.FeeBaseAccountID.String(),
							"fee_quote_account_id": x.FeeQuoteAccountID.String()}
					}
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				for _, x := range instruments {
					fmt.Fprintf(cmd.OutOrStdout(), "instrument %d: base ledger %d, quote ledger "+
						"%d, tick %d, lot %d, quantity %d..%d, fees maker %d taker %d bps\n",
						x.ID, x.BaseLedger, x.QuoteLedger, x.TickSize, x.LotSize,
						x.QuantityMin, x.QuantityMax, x.MakerFeeBasisPoints, x.TakerFeeBasisPoints)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d of %d found\n", len(instruments), len(ids))
				return nil
			})
		},
	}
}

func newOrderPlaceCommand(options *clientOptions) *cobra.Command {
	var o model.Order
	var side, kind, tif, selfTrade, baseAccount, quoteAccount, budget string
	var increasingIDs bool
	cmd := &cobra.Command{
		Use:   "place",
		Short: "Place an order",
		Example: `  sequent client order place --client-order-id 1 --account 1 --instrument 1 \
      --side buy --price 100 --quantity 10 --base-account 11 --quote-account 12`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if o.Side, err = pick(cmd, "side", side, sideNames); err != nil {
				return err
			}
			if o.Type, err = pick(cmd, "type", kind, typeNames); err != nil {
				return err
			}
			if o.TimeInForce, err = pick(cmd, "time-in-force", tif, tifNames); err != nil {
				return err
			}
			if o.SelfTrade, err = pick(cmd, "self-trade", selfTrade, tradeNames); err != nil {
				return err
			}
			if o.BaseAccountID, err = parseID(cmd, "base-account", baseAccount); err != nil {
				return err
			}
			if o.QuoteAccountID, err = parseID(cmd, "quote-account", quoteAccount); err != nil {
				return err
			}
			if o.Budget, err = parseID(cmd, "budget", budget); err != nil {
				return err
			}
			if increasingIDs {
				o.Flags |= model.OrderFlagClientOrderIDsIncreasing
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				results, err := c.PlaceOrders(ctx, []model.Order{o})
				if err != nil {
					return err
				}
				return printOrderResults(cmd, options, "place", results)
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint64Var(&o.ClientOrderID, "client-order-id", 0, "idempotency key (not 0)")
	flags.Uint64Var(&o.Account, "account", 0, "trading account within the client (not 0)")
	flags.Uint32Var(&o.Instrument, "instrument", 0, "instrument id")
	flags.StringVar(&side, "side", "buy", "buy or sell")
	flags.StringVar(&kind, "type", "limit", "limit or market")
	flags.StringVar(&tif, "time-in-force", "gtc", "gtc, ioc, fok or post-only")
	flags.StringVar(&selfTrade, "self-trade", "default", "default, cancel-newest, "+
		"cancel-oldest or cancel-both")
	flags.Uint64Var(&o.Price, "price", 0, "limit price (market: worst price)")
	flags.Uint64Var(&o.Quantity, "quantity", 0, "quantity in base units")
	flags.Uint64Var(&o.ReservePrice, "reserve-price", 0, "limit buys: hold at this price")
	flags.Uint64Var(&o.ExpireTimestamp, "expire", 0, "expire at this timestamp (ns); 0 never")
	flags.StringVar(&budget, "budget", "0", "market buys: most quote units to spend")
	flags.StringVar(&baseAccount, "base-account", "0", "your account on the base ledger")
	flags.StringVar(&quoteAccount, "quote-account", "0", "your account on the quote ledger")
	flags.BoolVar(&increasingIDs, "client-order-ids-increasing", false, "opt the trading "+
		"account into increasing client order ids, for good, if the order is accepted: "+
		"later keys must be above every key it used (PROTOCOL.md, Client order ids)")
	return cmd
}

func newOrderCancelCommand(options *clientOptions, replace bool) *cobra.Command {
	var cancel model.OrderCancel
	var price, quantity, reservePrice uint64
	verb, short := "cancel", "Cancel an open order"
	if replace {
		verb, short = "replace", "Change an open order's price or quantity"
	}
	cmd := &cobra.Command{
		Use:     verb,
		Short:   short,
		Example: "  sequent client order " + verb + " --client-order-id 2 --account 1 --order-id 17",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				var results []model.OrderResult
				var err error
				if replace {
					results, err = c.ReplaceOrders(ctx, []model.OrderReplace{{
						ClientOrderID: cancel.ClientOrderID, Account: cancel.Account,
						OrderID: cancel.OrderID, OriginalClientOrderID: cancel.OriginalClientOrderID,
						Price: price, Quantity: quantity, ReservePrice: reservePrice}})
				} else {
					results, err = c.CancelOrders(ctx, []model.OrderCancel{cancel})
				}
				if err != nil {
					return err
				}
				return printOrderResults(cmd, options, verb, results)
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint64Var(&cancel.ClientOrderID, "client-order-id", 0, "idempotency key of this command")
	flags.Uint64Var(&cancel.Account, "account", 0, "trading account owning the order")
	flags.Uint64Var(&cancel.OrderID, "order-id", 0, "the order (or give --original-client-order-id)")
	flags.Uint64Var(&cancel.OriginalClientOrderID, "original-client-order-id", 0,
		"client order id that placed the order, when --order-id is 0")
	if replace {
		flags.Uint64Var(&price, "price", 0, "new price")
		flags.Uint64Var(&quantity, "quantity", 0, "new total quantity (filled part included)")
		flags.Uint64Var(&reservePrice, "reserve-price", 0, "buys: new reserve price")
	}
	return cmd
}

func newMassCancelCommand(options *clientOptions) *cobra.Command {
	var m model.MassCancel
	var side string
	cmd := &cobra.Command{
		Use:   "mass-cancel",
		Short: "Cancel every open order of a trading account (optionally one instrument/side)",
		Example: `  sequent client order mass-cancel --account 1 --client-order-id 9
  sequent client order mass-cancel --account 1 --client-order-id 10 --instrument 1 --side buy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if side != "" {
				var err error
				if m.Side, err = pick(cmd, "side", side, sideNames); err != nil {
					return err
				}
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				results, err := c.MassCancel(ctx, []model.MassCancel{m})
				if err != nil {
					return err
				}
				if options.asJSON {
					rows := make([]map[string]any, len(results))
					for i, r := range results {
						rows[i] = map[string]any{"status": r.Status.String(),
							"code": uint32(r.Status), "canceled_count": r.CanceledCount}
					}
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				for _, r := range results {
					if r.Status != model.StatusOK {
						fmt.Fprintf(cmd.OutOrStdout(), "mass cancel: %s\n", describeStatus(r.Status))
						return errEventsFailed
					}
					fmt.Fprintf(cmd.OutOrStdout(), "mass cancel: %d orders canceled\n",
						r.CanceledCount)
				}
				return nil
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint64Var(&m.ClientOrderID, "client-order-id", 0, "idempotency key of this command")
	flags.Uint64Var(&m.Account, "account", 0, "trading account")
	flags.Uint32Var(&m.Instrument, "instrument", 0, "only this instrument (0 all)")
	flags.StringVar(&side, "side", "", "only this side: buy or sell (default both)")
	return cmd
}

func printOrderResults(cmd *cobra.Command, options *clientOptions, verb string,
	results []model.OrderResult) error {
	if options.asJSON {
		rows := make([]map[string]any, len(results))
		for i, r := range results {
			rows[i] = map[string]any{"order_id": r.OrderID, "timestamp": r.Timestamp,
				"status": r.Status.String(), "code": uint32(r.Status)}
		}
		if err := writeJSON(cmd.OutOrStdout(), rows); err != nil {
			return err
		}
	}
	failed := false
	for _, r := range results {
		failed = failed || r.Status != model.StatusOK
		if options.asJSON {
			continue
		}
		if r.Status == model.StatusOK {
			fmt.Fprintf(cmd.OutOrStdout(), "order %s: ok, order id %d\n", verb, r.OrderID)
		} else {
			fmt.Fprintf(cmd.OutOrStdout(), "order %s: refused: %s (%d)\n", verb, r.Status,
				uint32(r.Status))
		}
	}
	if failed {
		return errEventsFailed
	}
	return nil
}

func printOrders(cmd *cobra.Command, options *clientOptions, orders []model.OrderState) error {
	if options.asJSON {
		rows := make([]map[string]any, len(orders))
		for i, o := range orders {
			rows[i] = map[string]any{"order_id": o.OrderID, "client_order_id": o.ClientOrderID,
				"account": o.Account, "instrument": o.Instrument, "side": o.Side,
				"type": o.Type, "price": o.Price, "quantity": o.Quantity,
				"leaves_quantity": o.LeavesQuantity, "filled_quantity": o.FilledQuantity,
				"base_account_id":  o.BaseAccountID.String(),
				"quote_account_id": o.QuoteAccountID.String(), "timestamp": o.Timestamp}
		}
		return writeJSON(cmd.OutOrStdout(), rows)
	}
	sides := map[model.Side]string{model.SideBuy: "buy", model.SideSell: "sell"}
	for _, o := range orders {
		fmt.Fprintf(cmd.OutOrStdout(), "order %d (client order %d) account %d instrument %d: "+
			"%s %d @ %d, leaves %d, filled %d\n", o.OrderID, o.ClientOrderID, o.Account,
			o.Instrument, sides[o.Side], o.Quantity, o.Price, o.LeavesQuantity, o.FilledQuantity)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%d orders\n", len(orders))
	return nil
}

// What to do when the node refuses an order read whole (client.
// ErrOrderReadNeedsInstrument, status 85): its instruments are on several shards, each
// numbering its own orders, so an order id alone or every instrument of an account names
// no shard; the bare status does not say which flag answers.
const (
	orderLookupNeedsInstrument = "this node's instruments are on several shards, so an " +
		"order id alone names no shard: list the account's orders of one instrument " +
		"instead (sequent client order list --account ACCOUNT --instrument INSTRUMENT)"
	orderListNeedsInstrument = "this node's instruments are on several shards: give " +
		"--instrument INSTRUMENT to list the account's orders of one instrument (its " +
		"shard answers), once per instrument"
)

func newOrderLookupCommand(options *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "lookup ORDER_ID...",
		Short:   "Look open orders up by order id",
		Example: "  sequent client order lookup 17 18",
		Args:    minimumArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids := make([]uint64, len(args))
			for i, arg := range args {
				id, err := strconv.ParseUint(arg, 10, 64)
				if err != nil {
					return usage(cmd, "order id %q: %v", arg, err)
				}
				ids[i] = id
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				orders, err := c.LookupOrders(ctx, ids)
				if errors.Is(err, client.ErrOrderReadNeedsInstrument) {
					return fmt.Errorf("%w\n%s", err, orderLookupNeedsInstrument)
				}
				if err != nil {
					return err
				}
				return printOrders(cmd, options, orders)
			})
		},
	}
}

func newOrderListCommand(options *clientOptions) *cobra.Command {
	var filter model.OrderFilter
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the open orders of a trading account",
		Example: `  sequent client order list --account 1
  sequent client order list --account 1 --instrument 1 --after 17 --limit 50   # next page`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The server would answer account_must_not_be_zero or invalid_filter_match, exit 1.
			switch {
			case filter.Account == 0:
				return usage(cmd, "--account is required")
			case filter.Limit < 1 || filter.Limit > model.EventsPerRequestMax:
				return usage(cmd, "--limit %d: want 1 to %d", filter.Limit, model.EventsPerRequestMax)
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				orders, err := c.GetAccountOrders(ctx, filter)
				if errors.Is(err, client.ErrOrderReadNeedsInstrument) {
					return fmt.Errorf("%w\n%s", err, orderListNeedsInstrument)
				}
				if err != nil {
					return err
				}
				return printOrders(cmd, options, orders)
			})
		},
	}
	flags := cmd.Flags()
	flags.Uint64Var(&filter.Account, "account", 0, "trading account (required)")
	flags.Uint64Var(&filter.AfterOrderID, "after", 0, "only orders with a larger id (paging)")
	flags.Uint32Var(&filter.Instrument, "instrument", 0, "only this instrument (0 all)")
	flags.Uint32Var(&filter.Limit, "limit", 100, "most results (1 to 8189)")
	return cmd
}

func newDepthCommand(options *clientOptions) *cobra.Command {
	var levels uint32
	cmd := &cobra.Command{
		Use:     "depth INSTRUMENT",
		Short:   "Show the best price levels of an order book",
		Example: "  sequent client depth 1 --levels 5",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			instrument, err := strconv.ParseUint(args[0], 10, 32)
			if err != nil {
				return usage(cmd, "instrument %q: %v", args[0], err)
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				depth, err := c.GetDepth(ctx, model.DepthFilter{Instrument: uint32(instrument),
					Levels: levels})
				if err != nil {
					return err
				}
				if options.asJSON {
					rows := make([]map[string]any, len(depth))
					for i, level := range depth {
						rows[i] = map[string]any{"side": level.Side, "price": level.Price,
							"quantity": level.Quantity.String(), "order_count": level.OrderCount}
					}
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				for _, level := range depth {
					side := "bid"
					if level.Side == model.SideSell {
						side = "ask"
					}
					fmt.Fprintf(cmd.OutOrStdout(), "%s %d: %s in %d orders\n", side, level.Price,
						level.Quantity, level.OrderCount)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d levels\n", len(depth))
				return nil
			})
		},
	}
	cmd.Flags().Uint32Var(&levels, "levels", 10, "levels per side")
	return cmd
}

func newReportsCommand(options *clientOptions) *cobra.Command {
	var from uint64
	var shard int
	cmd := &cobra.Command{
		Use:   "reports",
		Short: "Print the execution reports the server retains, from a sequence on",
		Example: `  sequent client reports --from 1
  sequent client reports --shard 1 --from 200 --json   # shard 1's, on a node of several`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == 0 {
				return usage(cmd, "--from must be at least 1")
			}
			if shard < -1 || shard >= shardmap.ShardsMax {
				return usage(cmd, fmt.Sprintf("--shard must be from 0 to %d (or -1: the "+
					"default instrument shard)", shardmap.ShardsMax-1))
			}
			return options.run(cmd, func(ctx context.Context, c *client.Client) error {
				out := cmd.OutOrStdout()
				var mu sync.Mutex
				// Each report with its sequence: where to resume (--from) after it.
				type sequencedReport struct {
					sequence uint64
					model.ExecutionReport
				}
				var reports []sequencedReport
				handler := func(r client.Report) {
					if report, ok := r.ExecutionReport(); ok {
						mu.Lock()
						reports = append(reports, sequencedReport{r.Sequence, report})
						mu.Unlock()
					}
				}
				var subscribed client.Subscribed
				var err error
				if shard < 0 {
					subscribed, err = c.Subscribe(ctx, from, handler)
				} else {
					subscribed, err = c.SubscribeShard(ctx, uint16(shard), from, handler)
				}
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				if options.asJSON {
					rows := make([]map[string]any, len(reports))
					for i, r := range reports {
						rows[i] = map[string]any{"sequence": r.sequence, "order_id": r.OrderID,
							"client_order_id": r.ClientOrderID, "account": r.Account,
							"instrument": r.Instrument, "kind": r.Kind, "status": r.Status.String(),
							"side": r.Side, "liquidity": r.Liquidity, "trade_id": r.TradeID,
							"price": r.Price, "quantity": r.Quantity,
							"leaves_quantity": r.LeavesQuantity,
							"filled_quantity": r.FilledQuantity, "fee": r.Fee.String(),
							"timestamp": r.Timestamp}
					}
					return writeJSON(out, rows)
				}
				for _, r := range reports {
					fmt.Fprintf(out, "order %d kind %d status %s: price %d quantity %d leaves %d "+
						"filled %d trade %d\n", r.OrderID, r.Kind, r.Status, r.Price, r.Quantity,
						r.LeavesQuantity, r.FilledQuantity, r.TradeID)
				}
				if shard >= 0 {
					fmt.Fprintf(out, "shard %d: ", subscribed.Shard)
				}
				fmt.Fprintf(out, "replayed through %d (oldest retained %d)\n",
					subscribed.ReplayedThrough, subscribed.OldestSequence)
				return nil
			})
		},
	}
	cmd.Flags().Uint64Var(&from, "from", 1, "first sequence to print (of the shard's "+
		"reports: each shard numbers them on its own); with --json each row carries its "+
		"\"sequence\": resume from the last + 1")
	cmd.Flags().IntVar(&shard, "shard", -1, "the shard whose reports to print, on a node "+
		"of several shards (-1: the default instrument shard's)")
	return cmd
}
