package model

// Matching statuses (100..199): results of instrument and order commands, and the reasons
// carried by execution reports. Numbers are stable; the order in which the engine checks
// them (their precedence) is documented in package match.
//
// A few ledger statuses are reused where they mean exactly the same thing:
// StatusTimestampMustBeZero, StatusReservedField, StatusLedgerMustNotBeZero, StatusExists
// (an identical instrument re-created) and, in reports, StatusOK.
const (
	// Instruments.
	StatusInstrumentIDMustNotBeZero       Status = 100
	StatusInstrumentExistsWithDifferences Status = 101 // Same id, other fields.
	StatusInstrumentNotFound              Status = 102
	StatusInstrumentsLimitReached         Status = 103
	StatusLedgersMustBeDifferent          Status = 104 // Base and quote ledger are equal.
	StatusTickSizeMustNotBeZero           Status = 105
	StatusLotSizeMustNotBeZero            Status = 106
	StatusQuantityLimitsInvalid           Status = 107 // Min/max zero, unordered or off-lot.
	StatusFeeInvalid                      Status = 108 // Above FeeBasisPointsMax.
	StatusFeeAccountInvalid               Status = 109 // Missing, wrong ledger, limit flag.
	StatusReservedFlagInstrument          Status = 110 // Unknown instrument flag.

	// Order fields.
	StatusClientOrderIDMustNotBeZero Status = 120
	StatusClientOrderIDReused        Status = 121 // Same id used by another command kind.
	StatusAccountMustNotBeZero       Status = 122
	StatusSideInvalid                Status = 123
	StatusOrderTypeInvalid           Status = 124
	StatusTimeInForceInvalid         Status = 125 // Unknown, or not allowed for the type.
	StatusSelfTradeModeInvalid       Status = 126
	StatusPriceMustNotBeZero         Status = 127
	StatusPriceNotOnTick             Status = 128
	StatusQuantityNotOnLot           Status = 129
	StatusQuantityBelowMinimum       Status = 130
	StatusQuantityAboveMaximum       Status = 131
	StatusReservePriceInvalid        Status = 132 // Below the price, off tick, or on a sell.
	StatusBudgetInvalid              Status = 133 // Missing on a market buy, or set elsewhere.
	StatusExpireTimestampInvalid     Status = 134 // On IOC/FOK/market, or already passed.

	// Funding accounts and funds.
	StatusBaseAccountNotFound       Status = 140
	StatusQuoteAccountNotFound      Status = 141
	StatusBaseAccountLedgerInvalid  Status = 142 // Not on the instrument's base ledger.
	StatusQuoteAccountLedgerInvalid Status = 143 // Not on the instrument's quote ledger.
	StatusAccountClosed             Status = 144
	StatusAccountFlagsInvalid       Status = 145 // Credits limit on the receiving account.
	StatusInsufficientFunds         Status = 146 // The hold exceeds the available balance.
	StatusAccountIDReserved         Status = 147 // A system id used as a trading account.

	// Book and order state.
	StatusOrdersLimitReached     Status = 150
	StatusPostOnlyWouldCross     Status = 151
	StatusOrderNotFound          Status = 152 // Not open, or not the caller's.
	StatusReplaceQuantityInvalid Status = 153 // The new total is not above the filled part.
	StatusInvalidFilterMatch     Status = 154 // Bad query filter (limit, levels).
	StatusHoldAmountOverflow     Status = 155 // Price × lots does not fit the ledger.
	StatusTooManyFills           Status = 156 // A fill-or-kill needing more fills than one step.

	// Idempotency and ownership (issue 11's range, 157..165).
	// StatusClientOrderIDExistsWithDifferentFields: the key was used by a command of the
	// same kind whose other fields differ: a mistake, not a resend.
	StatusClientOrderIDExistsWithDifferentFields Status = 157
	StatusBaseAccountNotOwned                    Status = 158 // The caller may not trade from it.
	StatusQuoteAccountNotOwned                   Status = 159 // The caller may not trade from it.
	// StatusClientOrderIDNotIncreasing: a trading account that opted into increasing
	// client order ids sent a key at or below its highest that is not one of its
	// remembered recent commands. Only such accounts ever get it.
	StatusClientOrderIDNotIncreasing Status = 160

	// Reasons in execution reports (kind canceled or expired).
	StatusCanceledByClient   Status = 170
	StatusCanceledMass       Status = 171
	StatusCanceledDisconnect Status = 172
	StatusCanceledSelfTrade  Status = 173
	StatusCanceledUnfilled   Status = 174 // Unfilled rest of IOC and market orders.
	StatusCanceledFillOrKill Status = 175 // A fill-or-kill that could not fill completely.
	StatusCanceledBudget     Status = 176 // A market buy whose budget ran out.
	StatusCanceledAccount    Status = 177 // The ledger refused a resting order's settlement.
	StatusExpired            Status = 178 // A good-till-time order reached its deadline.

	matchStatusStart Status = 100
	matchStatusEnd   Status = 179
)

var matchStatusNames = [matchStatusEnd - matchStatusStart]string{
	StatusInstrumentIDMustNotBeZero - matchStatusStart:              "instrument_id_must_not_be_zero",
	StatusInstrumentExistsWithDifferences - matchStatusStart:        "instrument_exists_with_differences",
	StatusInstrumentNotFound - matchStatusStart:                     "instrument_not_found",
	StatusInstrumentsLimitReached - matchStatusStart:                "instruments_limit_reached",
	StatusLedgersMustBeDifferent - matchStatusStart:                 "ledgers_must_be_different",
	StatusTickSizeMustNotBeZero - matchStatusStart:                  "tick_size_must_not_be_zero",
	StatusLotSizeMustNotBeZero - matchStatusStart:                   "lot_size_must_not_be_zero",
	StatusQuantityLimitsInvalid - matchStatusStart:                  "quantity_limits_invalid",
	StatusFeeInvalid - matchStatusStart:                             "fee_invalid",
	StatusFeeAccountInvalid - matchStatusStart:                      "fee_account_invalid",
	StatusReservedFlagInstrument - matchStatusStart:                 "reserved_flag_instrument",
	StatusClientOrderIDMustNotBeZero - matchStatusStart:             "client_order_id_must_not_be_zero",
	StatusClientOrderIDReused - matchStatusStart:                    "client_order_id_reused",
	StatusAccountMustNotBeZero - matchStatusStart:                   "account_must_not_be_zero",
	StatusSideInvalid - matchStatusStart:                            "side_invalid",
	StatusOrderTypeInvalid - matchStatusStart:                       "order_type_invalid",
	StatusTimeInForceInvalid - matchStatusStart:                     "time_in_force_invalid",
	StatusSelfTradeModeInvalid - matchStatusStart:                   "self_trade_mode_invalid",
	StatusPriceMustNotBeZero - matchStatusStart:                     "price_must_not_be_zero",
	StatusPriceNotOnTick - matchStatusStart:                         "price_not_on_tick",
	StatusQuantityNotOnLot - matchStatusStart:                       "quantity_not_on_lot",
	StatusQuantityBelowMinimum - matchStatusStart:                   "quantity_below_minimum",
	StatusQuantityAboveMaximum - matchStatusStart:                   "quantity_above_maximum",
	StatusReservePriceInvalid - matchStatusStart:                    "reserve_price_invalid",
	StatusBudgetInvalid - matchStatusStart:                          "budget_invalid",
	StatusExpireTimestampInvalid - matchStatusStart:                 "expire_timestamp_invalid",
	StatusBaseAccountNotFound - matchStatusStart:                    "base_account_not_found",
	StatusQuoteAccountNotFound - matchStatusStart:                   "quote_account_not_found",
	StatusBaseAccountLedgerInvalid - matchStatusStart:               "base_account_ledger_invalid",
	StatusQuoteAccountLedgerInvalid - matchStatusStart:              "quote_account_ledger_invalid",
	StatusAccountClosed - matchStatusStart:                          "account_closed",
	StatusAccountFlagsInvalid - matchStatusStart:                    "account_flags_invalid",
	StatusInsufficientFunds - matchStatusStart:                      "insufficient_funds",
	StatusAccountIDReserved - matchStatusStart:                      "account_id_reserved",
	StatusOrdersLimitReached - matchStatusStart:                     "orders_limit_reached",
	StatusPostOnlyWouldCross - matchStatusStart:                     "post_only_would_cross",
	StatusOrderNotFound - matchStatusStart:                          "order_not_found",
	StatusReplaceQuantityInvalid - matchStatusStart:                 "replace_quantity_invalid",
	StatusInvalidFilterMatch - matchStatusStart:                     "invalid_filter_match",
	StatusHoldAmountOverflow - matchStatusStart:                     "hold_amount_overflow",
	StatusTooManyFills - matchStatusStart:                           "too_many_fills",
	StatusClientOrderIDExistsWithDifferentFields - matchStatusStart: "client_order_id_exists_with_different_fields",
	StatusBaseAccountNotOwned - matchStatusStart:                    "base_account_not_owned",
	StatusQuoteAccountNotOwned - matchStatusStart:                   "quote_account_not_owned",
	StatusClientOrderIDNotIncreasing - matchStatusStart:             "client_order_id_not_increasing",
	StatusCanceledByClient - matchStatusStart:                       "canceled_by_client",
	StatusCanceledMass - matchStatusStart:                           "canceled_mass",
	StatusCanceledDisconnect - matchStatusStart:                     "canceled_disconnect",
	StatusCanceledSelfTrade - matchStatusStart:                      "canceled_self_trade",
	StatusCanceledUnfilled - matchStatusStart:                       "canceled_unfilled",
	StatusCanceledFillOrKill - matchStatusStart:                     "canceled_fill_or_kill",
	StatusCanceledBudget - matchStatusStart:                         "canceled_budget",
	StatusCanceledAccount - matchStatusStart:                        "canceled_account",
	StatusExpired - matchStatusStart:                                "expired",
}

func init() {
	statusNameTables = append(statusNameTables, func(s Status) (string, bool) {
		if s < matchStatusStart || s >= matchStatusEnd {
			return "", false
		}
		name := matchStatusNames[s-matchStatusStart]
		return name, name != ""
	})
}
