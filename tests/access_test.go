package tests

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/factoryd/factoryd/client"
)

// Access by name, end to end: factoryd as root, factoryctl run as different unix users, whose
// tokens the daemon builds from their sockets' credentials.
func TestAccessBetweenUsers(t *testing.T) {
	const owner, alice, bob, backup = 52011, 52012, 52013, 52014
	d := newDaemonWith(t, fmt.Sprintf(`{"version": 1, "access": {"grants": [{"capability": "backup", "users": [%d]}]}}`, backup))
	openToOthers(t, d.dir)
	prog := filepath.Join(d.dir, "taxprep")
	copyFile(t, bins["taxprep"], prog)
	rates := filepath.Join(d.dir, "rates.txt")
	copyFile(t, "../examples/taxprep/rates.txt", rates)
	probe := filepath.Join(d.dir, "probe")
	copyFile(t, bins["probe"], probe)

	d.mustAsUser(owner, "", "factory", "new", "tax", "--program", prog, "--data", "rates="+rates, "--seal")
	d.mustAsUser(owner, "", "factory", "new", "draft", "--program", prog)

	// By default everyone may request: alice runs tax, and sees what she holds.
	assert.Contains(t, d.mustAsUser(alice, "income=10000", "run", "tax", "--input", "-"), "tax due: 1000.00")
	var infos []client.FactoryInfo
	require.NoError(t, json.Unmarshal([]byte(d.mustAsUser(alice, "", "factory", "ls", "--json")), &infos))
	require.Len(t, infos, 2)
	assert.Equal(t, "create audit", infos[1].Rights)

	// The owner narrows tax to alice, and lets her install into draft but not seal it.
	d.mustAsUser(owner, "", "acl", "set", "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x1;;;uid:%d)(A;;RC;;;cap:backup)", owner, owner, alice))
	out := d.mustAsUser(owner, "", "acl", "get", "tax")
	assert.Contains(t, out, fmt.Sprintf("Unix User %d", alice))
	assert.Contains(t, out, "capability backup")
	d.mustAsUser(owner, "", "acl", "set", "draft", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x4;;;uid:%d)", owner, owner, alice))

	// A denied open: bob can no longer run tax, nor see it.
	_, errOut, code := d.asUser(bob, "income=1", "run", "tax", "--input", "-")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "permission denied")
	assert.NotContains(t, d.mustAsUser(bob, "", "factory", "ls"), "tax")

	// Alice's requestor facet creates, but cannot audit; she cannot seal either factory.
	assert.Contains(t, d.mustAsUser(alice, "income=10000", "run", "tax", "--input", "-"), "tax due: 1000.00")
	_, errOut, code = d.asUser(alice, "", "factory", "audit", "tax")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "lacks the audit right")
	_, errOut, code = d.asUser(alice, "", "factory", "seal", "draft")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "lacks the seal right")
	_, errOut, code = d.asUser(alice, "", "factory", "seal", "tax")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "grants you no builder rights")
	_, errOut, code = d.asUser(alice, "", "acl", "set", "tax", fmt.Sprintf("O:uid:%dD:(A;;GA;;;WD)", alice))
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "write-acl")

	// Positive confinement: the backup service reads tax's descriptor, alice cannot.
	assert.Contains(t, d.mustAsUser(backup, "", "whoami"), "(capability backup)")
	assert.Contains(t, d.mustAsUser(backup, "", "acl", "get", "tax"), "sddl")
	_, errOut, code = d.asUser(alice, "", "acl", "get", "tax")
	assert.Equal(t, 1, code)
	assert.Contains(t, errOut, "read-acl")
}

// A yield handed a directory looks names up with its confined token: it opens only what
// grants its factory's declared capability, even where its requestor could open more.
func TestConfinedLookupBetweenUsers(t *testing.T) {
	const owner, alice = 52021, 52022
	d := newDaemon(t)
	openToOthers(t, d.dir)
	probe := filepath.Join(d.dir, "probe")
	copyFile(t, bins["probe"], probe)

	d.mustAsUser(owner, "", "factory", "new", "reader", "--program", probe, "--capability", "printers", "--seal")
	d.mustAsUser(owner, "", "factory", "new", "printer", "--program", probe, "--seal")
	d.mustAsUser(owner, "", "factory", "new", "secret", "--program", probe, "--seal")
	d.mustAsUser(owner, "", "acl", "set", "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x3;;;cap:printers)(A;;0x3;;;WD)", owner, owner))

	run := func(input string) string {
		return d.mustAsUser(alice, input, "run", "reader", "--directory", "dir", "--input", "-")
	}
	assert.Equal(t, "opened printer", run("open:dir:printer"))
	refused := run("open:dir:secret")
	assert.True(t, strings.HasPrefix(refused, "refused: permission denied"), refused)
	assert.Equal(t, "printer create audit\n", run("list:dir"))
	// Alice herself may open secret: confinement, not her rights, refused the yield.
	assert.Contains(t, d.mustAsUser(alice, "", "factory", "ls"), "secret")

	// The audit lists the declaration and what it reaches; a builder right makes it a hole.
	out := d.mustAsUser(alice, "", "factory", "audit", "reader")
	assert.Contains(t, out, "capability printers: not a hole")
	assert.Contains(t, out, "factory printer")
	assert.Contains(t, out, "DISCREET")
	d.mustAsUser(owner, "", "acl", "set", "printer", fmt.Sprintf("O:uid:%dD:(A;;GA;;;uid:%d)(A;;0x7;;;cap:printers)(A;;0x3;;;WD)", owner, owner))
	out = d.mustAsUser(alice, "", "factory", "audit", "reader")
	assert.Contains(t, out, "capability printers: HOLE")
	assert.Contains(t, out, "MUTABLE")
	assert.Contains(t, out, "NOT DISCREET")
}
