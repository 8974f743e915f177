package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/factoryd/factoryd/client"
)

func init() {
	register(&command{
		name:    "acl get",
		args:    "NAME [--json]",
		summary: "show a factory's security descriptor, explained, and what you hold on it",
		run:     aclGet,
	})
	register(&command{
		name: "acl set",
		args: "NAME SDDL [--json]",
		summary: "replace a factory's security descriptor (SDDL; uid:N, gid:N and cap:NAME " +
			"name unix users, groups and capabilities)",
		run: aclSet,
	})
}

func aclGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	asJSON := fs.Bool("json", false, "print JSON")
	pos, err := parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	acl, err := c.GetACL(ctx, pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, acl)
	}
	printACL(e.Stdout, acl)
	return nil
}

func aclSet(ctx context.Context, e *env, args []string) error {
	fs := e.flags()
	asJSON := fs.Bool("json", false, "print the stored descriptor as JSON")
	pos, err := parse(fs, args, 2, 2)
	if err != nil {
		return err
	}
	c, err := e.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	acl, err := c.SetACL(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSON(e.Stdout, acl)
	}
	printACL(e.Stdout, acl)
	return nil
}

// printACL prints a descriptor for people: SDDL first (what acl set takes back), then each
// entry in the order AccessCheck reads them.
func printACL(w io.Writer, acl *client.ACL) {
	fmt.Fprintf(w, "factory %s\n", acl.Name)
	fmt.Fprintf(w, "  sddl   %s\n", acl.SDDL)
	fmt.Fprintf(w, "  owner  %s\n", acl.Owner)
	fmt.Fprintf(w, "  you    %s\n", acl.Rights)
	if len(acl.Entries) == 0 {
		fmt.Fprintln(w, "  (empty DACL: nobody but the owner's implicit read-acl and write-acl)")
	}
	for i, en := range acl.Entries {
		fmt.Fprintf(w, "  %2d %-15s %-40s %s", i+1, en.Type, en.Trustee, en.Rights)
		if en.InheritOnly {
			fmt.Fprint(w, " (inherit only)")
		}
		if en.Condition != "" {
			fmt.Fprintf(w, " if %s", en.Condition)
		}
		fmt.Fprintln(w)
	}
}
