# The interface of the kvstore example program.
@0x8507a8af22fbe305;

using Go = import "/go.capnp";
$Go.package("kvpb");
$Go.import("github.com/factoryd/factoryd/examples/kvstore/kvpb");

interface Store {
  get @0 (key :Text) -> (value :Data, found :Bool);
  put @1 (key :Text, value :Data) -> ();
  delete @2 (key :Text) -> (existed :Bool);
  keys @3 () -> (keys :List(Text));
}
