package factory

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/factoryd/factoryd/access"
	"github.com/factoryd/factoryd/store"
)

// Principal is who is calling, as the kernel vouches for it: the peer credentials of a client's
// unix socket, or the instance a yield runs as.
type Principal struct {
	UID, GID uint32
	PID      int32
	// Instance is set when the caller is a yield; UID and GID are then its requestor's.
	Instance string
	// Token is a client's access token (specs/access-check.md), built from its credentials;
	// nil for a yield, which opens names only through a directory it was handed.
	Token *access.Token
}

// String formats the principal for logs and listings.
func (p Principal) String() string {
	if p.Instance != "" {
		return fmt.Sprintf("instance %s (for uid %d)", p.Instance, p.UID)
	}
	return fmt.Sprintf("uid %d", p.UID)
}

func (p Principal) owner() store.Principal { return store.Principal{UID: p.UID, GID: p.GID} }

// owns reports whether p may act as the owner of something owned by o.
func (p Principal) owns(o store.Principal) bool { return p.Instance == "" && p.UID == o.UID }

// peerPrincipal reads the credentials of the process at the other end of a unix socket and
// builds its token: its uid, its primary and supplementary gids (SO_PEERGROUPS), and what the
// operator's positive confinement adds (opts).
func peerPrincipal(c net.Conn, opts *access.UnixPeerOptions) (Principal, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Principal{}, fmt.Errorf("%w: %T is not a unix socket", ErrPermission, c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Principal{}, err
	}
	var cred *unix.Ucred
	var groups []uint32
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
		if cerr == nil {
			groups, cerr = peerGroups(int(fd))
		}
	}); err != nil {
		return Principal{}, err
	}
	if cerr != nil {
		return Principal{}, fmt.Errorf("peer credentials: %w", cerr)
	}
	gids := append([]uint32{cred.Gid}, groups...)
	tok, err := access.TokenForUnixPeer(cred.Uid, gids, opts)
	if err != nil {
		return Principal{}, fmt.Errorf("peer token: %w", err)
	}
	return Principal{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid, Token: tok}, nil
}

// maxPeerGroups bounds SO_PEERGROUPS: the kernel's NGROUPS_MAX.
const maxPeerGroups = 65536

// peerGroups reads SO_PEERGROUPS: the supplementary gids the peer had when it connected. The
// kernel answers ERANGE, with the size it needs, when the buffer is too small.
func peerGroups(fd int) ([]uint32, error) {
	n := 64
	for {
		buf := make([]byte, 4*n)
		size := uint32(len(buf))
		_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		switch {
		case errno == 0:
			out := make([]uint32, size/4)
			for i := range out {
				out[i] = binary.NativeEndian.Uint32(buf[4*i:])
			}
			return out, nil
		case errors.Is(errno, unix.ERANGE) && int(size/4) > n && size/4 <= maxPeerGroups:
			n = int(size / 4)
		case errors.Is(errno, unix.ENOPROTOOPT):
			return nil, nil // kernels before 4.13: the primary gid only
		default:
			return nil, fmt.Errorf("SO_PEERGROUPS: %w", errno)
		}
	}
}
