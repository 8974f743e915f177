# The wire protocol of factoryd.
#
# Three kinds of peers speak it:
#   - clients (factoryctl, Go programs) over the daemon's unix socket; their bootstrap is Daemon;
#   - yields (confined instances) over fd 3; their bootstrap from the daemon is VatHost, and the
#     one capability a yield publishes is what Requestor.create returns;
#   - any holder of a capability the daemon serves (Blob, facets, InstanceControl, ...).
#
# Errors travel as Cap'n Proto exceptions whose reason begins with a bracketed code, e.g.
# "[sealed] factory \"tax\" is sealed"; docs/protocol.md lists the codes. Ordinals never change.
#
# Every result the daemon returns carries at most one capability. capnp-go v3.1.0-alpha.2
# leaks a reference to every capability but the last in a Return (its rpc package keeps the
# Go 1.19 shared loop variable in ansent.destroy); a leaked reference to a yield's export would
# keep the instance alive. So facets are opened one per call, seal returns one facet, create
# returns the instance and control() its control facet, and a yield fetches each capability
# of its endowment with its own call. schema_test.go enforces the rule.

@0x9efe3d1253432936;

using Go = import "/go.capnp";
$Go.package("schema");
$Go.import("github.com/factoryd/factoryd/schema");

# ---------------------------------------------------------------------------------------------
# Immutable content

interface Blob {
  # An immutable byte string held by the daemon, named by its SHA-256. Never a hole.

  size @0 () -> (size :UInt64);
  read @1 (offset :UInt64, count :UInt32) -> (data :Data);
  # Returns at most count bytes (and at most the daemon's chunk limit) starting at offset; an
  # empty result means offset is at or past the end.
  digest @2 () -> (sha256 :Data);
}

interface Tree {
  # A transitively read-only view of named entries, served by the daemon: every capability it
  # returns is itself sensory (a Blob or a Tree). Never a hole. A tree is content-addressed: its
  # digest is that of its canonical listing, stored as a blob.

  list @0 () -> (entries :List(TreeEntry));
  get @1 (name :Text) -> (cap :Capability);
  digest @2 () -> (sha256 :Data);
}

enum TreeEntryKind {
  blob @0;
  tree @1;
}

struct TreeEntry {
  name @0 :Text;
  kind @1 :TreeEntryKind;
  sha256 @2 :Data;
  size @3 :UInt64;     # blobs
}

interface Dropbox {
  # A place a yield can post messages its factory's builder reads: a declared hole, by design.
  post @0 (data :Data) -> ();
}

interface BlobUpload {
  # Streams bytes into a new blob. Calls are applied in the order sent; a client may pipeline
  # many writes before waiting.

  write @0 (data :Data) -> ();
  commit @1 () -> (sha256 :Data, blob :Blob);
  # Makes the blob durable and returns its digest. Identical content yields the same blob.
}

# ---------------------------------------------------------------------------------------------
# The client-facing daemon

interface Daemon {
  uploadBlob @0 () -> (upload :BlobUpload);
  blob @1 (sha256 :Data) -> (blob :Blob);
  newFactory @2 (name :Text) -> (builder :Builder);
  builder @3 (name :Text) -> (builder :Builder);
  # The builder facet, limited to the builder rights (install, seal, manage, destroy) the
  # factory's security descriptor grants the caller; [permission] if it grants none.
  requestor @4 (name :Text) -> (requestor :Requestor);
  # The requestor facet of a sealed factory, limited to the requestor rights (create, audit)
  # granted to the caller.
  verifier @5 (name :Text) -> (verifier :Verifier);
  # Needs the audit right.
  listFactories @6 () -> (factories :List(FactoryInfo));
  # The factories on which the caller holds any right.
  listInstances @7 () -> (instances :List(InstanceInfo));
  # The caller's own instances.
  killInstance @8 (id :Text) -> ();
  whoami @9 () -> (principal :Principal);
  newTree @10 (entries :List(TreeEntry)) -> (tree :Tree);
  # Builds a tree from stored blobs and trees named by digest (kind and sha256 of each entry).
  verifyInstance @11 (factory :Text, instance :Text) -> (ok :Bool);
  # Whether one of the caller's instances was created by the named factory.
  auditLog @12 (factory :Text, limit :UInt32) -> (entries :List(AuditEntry));
  # The audit log entries the caller may see, newest last; factory "" means all.
  ledger @13 (query :LedgerQuery) -> (entries :List(LedgerEntry));
  # Billing ledger entries the caller may see: of the factories it owns (payee) and of the
  # instances it requested (payer); nobody else's.
  verifyLedger @14 (factory :Text, checkpoints :List(LedgerCheckpoint)) -> (chains :List(ChainVerdict));
  # Verifies the hash chains of the ledgers the caller may see (factory "" means all of them),
  # each against the heads the caller remembered from an earlier verify.
  usage @15 (instance :Text) -> (usage :InstanceUsage);
  # What one of the caller's instances consumed, live or ended: the requestor's own record.
  getAcl @16 (name :Text) -> (acl :Acl);
  # A factory's security descriptor; needs READ_CONTROL (read-acl).
  setAcl @17 (name :Text, sddl :Text) -> (acl :Acl);
  # Replaces a factory's security descriptor; needs WRITE_DAC (write-acl), and WRITE_OWNER
  # (take-ownership) to change its owner. Facets already held keep their rights.
  directory @18 () -> (directory :Directory);
  # The namespace, seen with the caller's token. Handed to a yield as a capability argument of
  # create, it becomes a directory seen with the yield's confined token.
}

interface Directory {
  # Opens named objects with the token it was made for: a client's token, or a yield's confined
  # token (its factory's confinement SID and declared capability SIDs). Every open runs
  # AccessCheck and returns a facet limited to the rights granted.

  list @0 () -> (entries :List(DirectoryEntry));
  # The objects on which the token holds any right.
  requestor @1 (name :Text) -> (requestor :Requestor);
  verifier @2 (name :Text) -> (verifier :Verifier);
  builder @3 (name :Text) -> (builder :Builder);
  access @4 (name :Text) -> (granted :UInt32, rights :Text);
  # What the token is granted on the named object (0 and "none" when nothing).
  token @5 () -> (token :Text);
  # The token, printed readably.
}

struct DirectoryEntry {
  name @0 :Text;
  kind @1 :Text;        # "factory"
  granted @2 :UInt32;   # the token's rights on it (factory rights, see docs/access.md)
  rights @3 :Text;      # the same, named: e.g. "create audit"
  sealed @4 :Bool;
}

struct Acl {
  name @0 :Text;
  sddl @1 :Text;        # the descriptor in SDDL
  owner @2 :Text;       # the owner SID, and its unix name where it has one
  granted @3 :UInt32;   # what the caller is granted on the factory
  rights @4 :Text;
  entries @5 :List(AclEntry);
}

struct AclEntry {
  # One access control entry, explained.
  type @0 :Text;        # "allow", "deny", "allow-callback", ...
  sid @1 :Text;
  trustee @2 :Text;     # the SID in words: "uid 1000", "Everyone", "capability printers", ...
  mask @3 :UInt32;
  rights @4 :Text;
  inheritOnly @5 :Bool;
  condition @6 :Text;   # callback ACEs: the condition in SDDL
}

struct LedgerQuery {
  factory @0 :Text;       # "" means every factory the caller may see
  instance @1 :Text;      # "" means every instance
  afterFactory @2 :Text;  # resume after this entry (factory id hex and seq) of a previous page
  afterSeq @3 :UInt64;
  limit @4 :UInt32;       # 0: the daemon's page size
}

struct LedgerEntry {
  seq @0 :UInt64;
  factory @1 :Text;        # the payee factory's name ("" once destroyed)
  factoryId @2 :Text;
  instance @3 :Text;
  payer @4 :Text;          # the requestor's principal
  payerUid @5 :UInt32;
  kind @6 :Text;
  units @7 :UInt64;
  periodStart @8 :Int64;   # unix nanoseconds
  periodEnd @9 :Int64;
  time @10 :Int64;         # when the charge fell due: its period's end
  prev @11 :Data;          # SHA-256 of the previous entry of the factory's chain
  hash @12 :Data;          # SHA-256 committing to this entry and prev
}

struct LedgerCheckpoint {
  factoryId @0 :Text;
  seq @1 :UInt64;
  hash @2 :Data;
}

struct ChainVerdict {
  factory @0 :Text;
  factoryId @1 :Text;
  ok @2 :Bool;
  error @3 :Text;          # the first broken link, when not ok
  headSeq @4 :UInt64;      # the chain's head: remember it to detect a later truncation
  headHash @5 :Data;
  entries @6 :UInt64;      # entries of the caller's own in the chain (all of them for the payee)
  payee @7 :Bool;          # the caller owns the factory
}

struct InstanceUsage {
  instance @0 :Text;
  factory @1 :Text;
  live @2 :Bool;            # still running: the numbers are so far
  cpuNanos @3 :UInt64;      # user and system CPU time
  peakMemoryBytes @4 :UInt64;
  wallNanos @5 :UInt64;     # from create to end (or now)
  createdAt @6 :Int64;
  endedAt @7 :Int64;
  endReason @8 :Text;
  measured @9 :Bool;        # false when the kernel's counters were not available (no cgroup)
}

struct AuditEntry {
  seq @0 :UInt64;
  time @1 :Int64;          # unix nanoseconds
  principal @2 :Text;      # who acted
  action @3 :Text;         # e.g. "factory.sealed", "instance.created"
  factory @4 :Text;
  factoryId @5 :Text;
  instance @6 :Text;
  component @7 :Text;
  kind @8 :Text;
  label @9 :Text;
  detail @10 :Text;
}

struct Principal {
  uid @0 :UInt32;
  gid @1 :UInt32;
  pid @2 :Int32;
  name @3 :Text;
  token @4 :Text;       # the token the daemon built for this caller, printed readably
  user @5 :Text;        # the token's user SID
  groups @6 :List(Text);  # its group SIDs
}

enum ComponentKind {
  data @0;      # an immutable blob installed by digest
  sensory @1;   # a transitively read-only view served by this daemon
  factory @2;   # the requestor facet of a sealed factory on this daemon
  hole @3;      # anything else: a declared hole
}

struct ComponentInfo {
  name @0 :Text;
  kind @1 :ComponentKind;
  sha256 @2 :Data;     # data components
  size @3 :UInt64;     # data components
  label @4 :Text;      # holes: the builder's label; factories: the component factory's name
}

struct FactoryInfo {
  name @0 :Text;
  id @1 :Text;           # stable identifier, hex
  owner @2 :Text;        # the owner's principal
  sealed @3 :Bool;
  program @4 :Data;      # SHA-256 of the program blob; empty before setProgram
  programSize @5 :UInt64;
  components @6 :List(ComponentInfo);
  createdAt @7 :Int64;   # unix nanoseconds
  sealedAt @8 :Int64;    # unix nanoseconds, 0 before seal
  discreet @9 :Bool;     # frozen at seal: no holes
  holes @10 :UInt32;     # number of holes (frozen at seal)
  syscalls @11 :List(Text);  # declared beyond the default allowlist
  charges @12 :List(ChargeKind);  # what its instances may charge for
  capabilities @13 :List(Text);   # capability names its yields' confined tokens carry
  strict @14 :Bool;               # confined tokens leave out ALL_APPLICATION_PACKAGES
  rights @15 :UInt32;             # what the caller holds on it (listings)
  rightsText @16 :Text;           # the same, named: e.g. "create audit"
}

# ---------------------------------------------------------------------------------------------
# Factory facets

interface Builder {
  # Held by the program's author. Every install fails with [sealed] once the factory is sealed.

  setProgram @0 (sha256 :Data) -> ();
  installData @1 (name :Text, sha256 :Data) -> ();
  installSensory @2 (name :Text, cap :Capability) -> ();
  installFactory @3 (name :Text, requestor :Requestor) -> ();
  installHole @4 (name :Text, cap :Capability, label :Text) -> ();
  seal @5 () -> (requestor :Requestor);
  # Freezes the factory. Sealing twice returns the same facet; its verifier() is the
  # factory's verifier facet.
  info @6 () -> (info :FactoryInfo);
  openYield @7 (yield :Capability) -> (control :InstanceControl);
  # Succeeds only for a yield of this factory that its requestor handed to the builder.
  destroy @8 () -> ();
  holes @9 () -> (report :AuditReport);
  # The audit as it stands; frozen once sealed.
  dropbox @10 (name :Text, after :UInt64) -> (messages :List(DropboxMessage));
  # Messages yields posted to the named dropbox component, after sequence number after.
  installDropbox @11 (name :Text, label :Text) -> ();
  # Installs a Dropbox the builder reads: a declared hole from every yield to the builder.
  allowSyscalls @12 (syscalls :List(Text)) -> ();
  # Declares syscalls the program needs beyond the default allowlist; shown in the audit.
  # Syscalls that reach beyond the vat (mount, ptrace, bpf, ...) cannot be declared.
  declareCharges @13 (kinds :List(ChargeKind)) -> ();
  # Declares what instances may charge for (replacing an earlier declaration): at most 8 kinds,
  # each with a quantum every charge is rounded up to. Shown in the audit.
  declareCapabilities @14 (names :List(Text), strict :Bool) -> ();
  # Declares the capability SIDs a yield's confined token carries when it looks names up in a
  # directory (replacing an earlier declaration); strict leaves out ALL_APPLICATION_PACKAGES.
  # Shown in the audit with everything they reach; one that reaches something mutable is a hole.
}

struct ChargeKind {
  name @0 :Text;       # 1-32 of a-z, 0-9 and '-', starting with a letter
  quantum @1 :UInt64;  # every charge is rounded up to a multiple of it
}

struct DropboxMessage {
  seq @0 :UInt64;
  time @1 :Int64;
  data @2 :Data;
}

interface Requestor {
  create @0 (args :List(Arg), limits :Limits, debugSink :DebugSink, billing :BillingLimits) -> (instance :Capability);
  # Starts a confined instance. The yield receives exactly the factory's components, the program
  # and args. instance is the capability the program published; the instance ends when every
  # reference to it is released, when the requestor disconnects, or when it is killed.
  info @1 () -> (info :FactoryInfo);
  isDiscreet @2 () -> (discreet :Bool);
  verifier @3 () -> (verifier :Verifier);
  control @4 (instance :Capability) -> (control :InstanceControl);
  # The control facet of an instance this factory created (pipeline it on create's result).
  holes @5 () -> (report :AuditReport);
  # The proof of what an instance could leak through, frozen at seal.
  compare @6 (other :Capability) -> (result :CompareResult);
  # subset iff other is a sealed factory on this daemon whose holes are all holes of this one
  # (use a factory as a policy: "the holes I accept"). Never calls other.
  capacity @7 (billing :BillingLimits) -> (capacity :ChannelCapacity);
  # The billing channel an instance created with these limits would have, exactly; refuses
  # limits create would refuse.
}

struct BillingLimits {
  # What an instance may charge: the requestor's consent. A declared kind without a ceiling
  # cannot be charged; no limits at all means the instance can charge nothing.
  periodMs @0 :UInt32;          # coalescing period; 0 means the operator's default
  ceilings @1 :List(ChargeCeiling);
}

struct ChargeCeiling {
  kind @0 :Text;
  perPeriod @1 :UInt64;   # the most units recorded for one period
  total @2 :UInt64;       # the most units recorded over the instance's life
}

struct ChannelCapacity {
  # How much a yield can tell its builder through the billing channel.
  periodMs @0 :UInt32;
  bitsPerPeriod @1 :Float64;
  bitsPerSecond @2 :Float64;
  rating @3 :Text;              # TCSEC guideline, as for covert channels
  kinds @4 :List(KindCapacity);
}

struct KindCapacity {
  kind @0 :Text;
  quantum @1 :UInt64;
  ceiling @2 :UInt64;     # effective per-period ceiling: min(per period, total)
  values @3 :UInt64;      # distinguishable recorded values per period
  bitsPerPeriod @4 :Float64;
  bitsPerSecond @5 :Float64;
}

enum CompareResult {
  subset @0;
  extraHoles @1;
  notAFactory @2;
}

struct AuditReport {
  # The proof tree as a graph: factories[root] is the audited factory; a component naming a
  # nested factory points at its entry, so a factory reached twice is described once.
  root @0 :UInt32;
  factories @1 :List(AuditFactory);
  holes @2 :List(HoleInfo);          # the hole set: the union over the whole graph
  covert @3 :List(CovertChannel);    # what confinement cannot close, with bounds
  discreet @4 :Bool;
  sealed @5 :Bool;
}

struct AuditFactory {
  name @0 :Text;
  id @1 :Text;
  sealed @2 :Bool;
  discreet @3 :Bool;
  program @4 :Data;
  components @5 :List(AuditComponent);
  syscalls @6 :List(Text);   # declared beyond the default allowlist: more kernel surface
  charges @7 :List(ChargeKind);
  confinement @8 :Confinement;
}

struct Confinement {
  # What a yield of the factory reaches by name when it is handed a directory: everything its
  # confined token can be granted, whoever its requestor (AccessCheck's confinement pass alone).
  sid @0 :Text;                          # the factory's confinement SID
  strict @1 :Bool;
  capabilities @2 :List(DeclaredCapability);
  reach @3 :List(ReachedObject);         # as the namespace stands now
  mutable @4 :Bool;                      # something reached now is mutable
  mutableAtSeal @5 :Bool;                # ... and at seal (frozen with the hole set)
}

struct DeclaredCapability {
  name @0 :Text;
  sid @1 :Text;
  hole @2 :Bool;          # it reaches something mutable (now)
  reason @3 :Text;
}

struct ReachedObject {
  name @0 :Text;
  kind @1 :Text;          # "factory"
  granted @2 :UInt32;
  rights @3 :Text;
  via @4 :List(Text);     # the capability names (or "confinement SID", "all packages") granting it
  mutable @5 :Bool;
  reason @6 :Text;        # why it is, or is not, mutable
}

struct AuditComponent {
  name @0 :Text;
  kind @1 :ComponentKind;
  hole @2 :Bool;
  reason @3 :Text;       # why it is, or is not, a hole
  label @4 :Text;
  factory @5 :Int32;     # index of a nested factory in AuditReport.factories, or -1
  holeId @6 :Text;       # the identity of the capability, for holes
  sha256 @7 :Data;
  size @8 :UInt64;
}

struct HoleInfo {
  id @0 :Text;           # identity of the capability: the same capability has the same id
  label @1 :Text;
  factory @2 :Text;      # the factory that installed it
  component @3 :Text;
  reason @4 :Text;
}

struct CovertChannel {
  name @0 :Text;
  bound @1 :Text;            # e.g. "12.5 bit/s" or "unbounded"
  bitsPerSecond @2 :Float64; # when bounded
  unbounded @3 :Bool;
  rating @4 :Text;           # TCSEC guideline: "acceptable" (< 0.1 bit/s), "audit" (0.1-100), "high" (> 100)
  note @5 :Text;
}

interface Verifier {
  verifyYield @0 (cap :Capability) -> (ok :Bool);
  # True iff cap was created by this factory's create. Never calls cap.
}

struct Arg {
  name @0 :Text;
  union {
    data @1 :Data;
    cap @2 :Capability;
  }
}

struct Limits {
  # Zero means the operator's default; values above the operator's maxima are refused. The
  # kernel enforces them: a vat that exceeds memory, processes or CPU time is killed, and its
  # requestor (only) reads why.
  startTimeoutMs @0 :UInt32;
  memoryBytes @1 :UInt64;
  pids @2 :UInt32;            # processes and threads
  cpuMillicores @3 :UInt32;   # share of CPU in thousandths of a core: 500 is half a core
  openFiles @4 :UInt32;
  cpuSeconds @5 :UInt32;      # total CPU time
}

enum Stream {
  stdout @0;
  stderr @1;
}

interface DebugSink {
  # Supplied by the requestor; receives the yield's stdout and stderr. Never the builder's.
  write @0 (stream :Stream, data :Data) -> ();
}

enum InstanceState {
  starting @0;
  running @1;
  ended @2;
}

struct InstanceInfo {
  id @0 :Text;
  factory @1 :Text;
  state @2 :InstanceState;
  createdAt @3 :Int64;  # unix nanoseconds
  endedAt @4 :Int64;
  endReason @5 :Text;   # for the requestor only, e.g. "killed", "exited with status 2"
  requestor @6 :Text;   # the requestor's principal
  pid @7 :Int32;        # the vat's pid in the daemon's pid namespace, 0 once ended
  billing @8 :ChannelCapacity;  # the instance's billing channel, as its requestor set it
}

interface InstanceControl {
  # Held by the requestor (and by a builder the requestor handed the yield to).
  info @0 () -> (info :InstanceInfo);
  kill @1 () -> ();
  wait @2 () -> (info :InstanceInfo);
  # Returns once the instance has ended.
}

# ---------------------------------------------------------------------------------------------
# The yield's side: fd 3

interface VatHost {
  # The daemon's bootstrap capability on a yield's fd 3.
  endowment @0 () -> (endowment :Endowment);
  # What the yield was created with, without capabilities: fetch each with component() or arg().
  publish @1 (export :Capability) -> ();
  # The yield's one exported capability; may be called once.
  component @2 (name :Text) -> (cap :Capability);
  # A component's capability: a Blob for data, a sensory view, a component factory's Requestor
  # facet, or a hole.
  arg @3 (name :Text) -> (cap :Capability);
  # A capability argument of the requestor's.
  meter @4 () -> (meter :Meter);
  # The yield's billing meter: its one channel to the builder.
}

interface Meter {
  charge @0 (kind :Text, units :UInt64) -> (accepted :Bool);
  # Charges units of a declared kind, rounded up to its quantum. Accepted charges return once
  # durable in the ledger, which is at the end of the charge's period; a refused one (an
  # undeclared kind, or beyond the requestor's ceilings) returns at once. The yield learns
  # nothing else: not how much is left, not why.
  chargeMany @1 (kind :Text, units :UInt64, count :UInt32) -> (accepted :UInt32);
  # count charges of units each, applied in order as count calls of charge would be within one
  # period: the first `accepted` were accepted (and are durable when it returns), the rest
  # refused. At most 65536 at once. The SDK sends concurrent charges this way.
}

struct Endowment {
  components @0 :List(ComponentInfo);
  args @1 :List(ArgInfo);
}

struct ArgInfo {
  name @0 :Text;
  union {
    data @1 :Data;
    cap @2 :Void;       # fetch with VatHost.arg(name)
  }
}

# ---------------------------------------------------------------------------------------------
# Conventional interfaces a program may export

interface Job {
  # What `factoryctl run` drives.
  run @0 (input :Data) -> (output :Data);
}
