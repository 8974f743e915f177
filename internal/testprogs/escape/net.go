package main

import (
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Network attacks: deliver the nonce to the listeners the test runs on the host's loopback.

const dialTimeout = time.Second

// deliver dials network/addr and writes the nonce, three times for datagrams.
func deliver(r *report, network, addr, nonce string) {
	c, err := net.DialTimeout(network, addr, dialTimeout)
	if err == nil {
		c.SetDeadline(time.Now().Add(dialTimeout))
		for i := 0; i < 3 && err == nil; i++ {
			_, err = c.Write([]byte(nonce))
		}
		c.Close()
	}
	r.try(network+" "+addr, err)
}

func attackTCP(req *request, r *report) {
	for _, a := range req.TCP {
		deliver(r, "tcp", a, req.Nonce)
	}
	// The raw way, in case the net package's choices (non-blocking sockets) matter.
	for _, a := range req.TCP {
		r.try("raw tcp "+a, rawConnect(a, unix.SOCK_STREAM, req.Nonce))
	}
}

func attackUDP(req *request, r *report) {
	for _, a := range req.UDP {
		deliver(r, "udp", a, req.Nonce)
	}
	for _, a := range req.UDP {
		r.try("raw udp "+a, rawConnect(a, unix.SOCK_DGRAM, req.Nonce))
	}
}

func attackUnix(req *request, r *report) {
	for _, p := range req.Unix {
		for _, network := range []string{"unix", "unixgram", "unixpacket"} {
			deliver(r, network, p, req.Nonce)
		}
	}
}

func attackAbstract(req *request, r *report) {
	for _, name := range req.Abstract {
		for _, network := range []string{"unix", "unixgram", "unixpacket"} {
			deliver(r, network, "@"+name, req.Nonce)
		}
	}
}

// rawConnect connects a blocking socket of type typ to addr and sends the nonce.
func rawConnect(addr string, typ int, nonce string) error {
	ap, err := net.ResolveUDPAddr("udp", addr) // parses host:port only; no lookup for IPs
	if err != nil {
		return err
	}
	var sa unix.Sockaddr
	family := unix.AF_INET
	if ip4 := ap.IP.To4(); ip4 != nil {
		sa4 := &unix.SockaddrInet4{Port: ap.Port}
		copy(sa4.Addr[:], ip4)
		sa = sa4
	} else {
		family = unix.AF_INET6
		sa6 := &unix.SockaddrInet6{Port: ap.Port}
		copy(sa6.Addr[:], ap.IP.To16())
		sa = sa6
	}
	fd, err := unix.Socket(family, typ|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(dialTimeout.Nanoseconds())
	unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	if err := unix.Connect(fd, sa); err != nil {
		return err
	}
	_, err = unix.Write(fd, []byte(nonce))
	return err
}
