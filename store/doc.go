// Package store keeps factoryd's durable state: one bbolt file and a content-addressed blob
// directory, both inside the daemon's data directory.
//
// Layout of the data directory:
//
//	<data>/factoryd.db            bbolt file (index and records)
//	<data>/blobs/<xx>/<sha256>    blob contents, named by their hex SHA-256, read-only
//	<data>/blobs/tmp/             uploads in progress; emptied at Open
//
// Bucket tree of factoryd.db:
//
//	meta/
//	  version            -> schema version, uint64 big-endian
//	blobs/
//	  <sha256, 32 bytes> -> blobRecord (JSON): size, creation time
//	factories/
//	  <id, 16 bytes>     -> Factory (JSON)
//	names/
//	  <name>             -> <factory id, 16 bytes>
//	ledger-log/                      billing ledger (schema 2): every entry, in commit order
//	  <n, uint64 big-endian>   -> entry record: canonical encoding + SHA-256 (ledger.go)
//	ledger/                          chain index; sequence = last n folded (ledger_append.go)
//	  <factory id, 16 bytes>/        one chain per payee factory; sequence = newest folded seq
//	    <first seq, 8>         -> chain block: n of seq first, first+1, ... (ledger_blocks.go)
//	ledger-heads/                    newest entry of each chain, folded or not
//	  <factory id, 16 bytes>   -> <seq, uint64 big-endian><hash, 32 bytes>
//	ledger-by-payer/                 payer index of folded entries
//	  <payer uid, 4><factory id, 16><first seq, 8> -> payer block: (seq, n) pairs, ascending
//	audit/                           audit log (schema 3), append-only
//	  <seq, uint64 big-endian> -> AuditEntry (JSON)
//	dropbox/                         messages yields posted to dropbox holes (schema 3)
//	  <factory id, 16 bytes>/<component name>/
//	    <seq, uint64 big-endian> -> <unix nanoseconds, 8><data>
//	payees/                          who each factory's ledger pays, kept after destroy (schema 4)
//	  <factory id, 16 bytes>   -> Payee (JSON)
//	usage/                           what ended instances consumed, the requestor's (schema 4)
//	  <requestor uid, 4><instance id> -> UsageRecord (JSON)
//
// Rules: every record is copied out of its transaction before the transaction ends; a blob is
// durable (file fsynced and renamed, directory fsynced) before its record is written; records
// are JSON so that the file stays readable with bbolt's own tools, except ledger entries, whose
// hash needs one exact encoding (ledger.go); ledger entries are only appended, to ledger-log,
// indexed later in bulk (ledger_append.go), and acknowledged by a LedgerWriter only after the
// commit's fsync; schema changes are ordered migrations in migrate.go, each with its own test.
package store
