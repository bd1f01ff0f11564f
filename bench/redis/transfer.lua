-- One ledger transfer, as Sequent's create_transfers does for one event (minus checks):
-- KEYS[1] debit account, KEYS[2] credit account, KEYS[3] transfer id; ARGV[1] amount.
-- An existing transfer id answers 1 (exists) and changes nothing; else 0 (created).
if redis.call('EXISTS', KEYS[3]) == 1 then return 1 end
redis.call('HSET', KEYS[3], 'debit', KEYS[1], 'credit', KEYS[2], 'amount', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'debits_posted', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'credits_posted', ARGV[1])
return 0
