package client_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"sequent/core/model"
	"sequent/netio/client"
)

// ExampleDial connects with a key from the keys file, creates two accounts and a transfer
// between them, and prints each outcome. (Compiled, not run: it needs a server.)
func ExampleDial() {
	secret, _ := hex.DecodeString("5f2b8e0c9d1a4b7e6c3f2a1b0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		Addresses: []string{"127.0.0.1:7400"},
		Client:    1, Key: 1, Secret: secret,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	accounts := []model.Account{
		{ID: model.U128(1), Ledger: 1, Code: 1},
		{ID: model.U128(2), Ledger: 1, Code: 1},
	}
	if _, err := c.CreateAccounts(ctx, accounts); err != nil {
		fmt.Println(err)
		return
	}
	results, err := c.CreateTransfers(ctx, []model.Transfer{{ID: model.U128(10),
		DebitAccountID: model.U128(1), CreditAccountID: model.U128(2),
		Amount: model.U128(100), Ledger: 1, Code: 1}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("transfer 10:", results[0].Status)
}
