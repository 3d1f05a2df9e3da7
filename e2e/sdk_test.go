package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"switchboard/models"
	"switchboard/models/dbtest"
	"switchboard/models/ratelimit"
)

// sdkTestTimeout bounds one run of the SDK script (it takes about a second;
// the bound is for a server that hangs).
const sdkTestTimeout = 60 * time.Second

// TestJavaScriptSDKConformance runs the official TwelveLabs JavaScript SDK
// (twelvelabs-js, pinned by e2e/sdk/package-lock.json) against the real
// router, on SQLite and PostgreSQL: e2e/sdk/conformance.mjs creates, lists
// with paging, retrieves, renames and deletes indexes through it and checks
// the error cases, with a key made for an organization's member.
//
// It needs node and e2e/sdk/node_modules (`npm ci` in e2e/sdk): without them
// it skips, except in CI, where it must run.
func TestJavaScriptSDKConformance(t *testing.T) {
	node, dir := sdkRunner(t)
	dbtest.Each(t, func(t *testing.T, db *gorm.DB) {
		s := newSite(t, db)
		owner, _ := dbtest.User(t, db)
		org := dbtest.Org(t, db, owner)
		key, err := models.CreateAPIKey(t.Context(), db, org, "SDK conformance", models.DefaultAPIKeyTTL)
		if err != nil {
			t.Fatal(err)
		}
		// The script makes about 50 counted requests in a second, close to
		// the Free plan's 60 a minute; a 429 would make the SDK back off and
		// retry. Rate limits have tests of their own: give the account room.
		perMinute := int64(1_000)
		if _, err := ratelimit.SetAccountLimits(t.Context(), db, org.Account().PublicID, &perMinute, nil); err != nil {
			t.Fatal(err)
		}

		ctx, cancel := context.WithTimeout(t.Context(), sdkTestTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, node, "conformance.mjs")
		cmd.Dir = dir
		cmd.Env = append(sdkEnv(),
			"BASE_URL="+s.base+"/v1.3",
			"API_KEY="+key.Secret,
			"RUN_ID="+filepath.Base(t.Name()),
		)
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("the SDK script did not finish within %s; its output:\n%s", sdkTestTimeout, out)
		}
		if err != nil {
			t.Fatalf("the SDK script failed (%v); its output:\n%s", err, out)
		}
		t.Logf("SDK script output:\n%s", out)
	})
}

// sdkRunner finds node and the SDK's installed package folder. Without
// either the test skips, except in CI, where the conformance test is
// required (CI runs `npm ci` in e2e/sdk first).
func sdkRunner(t *testing.T) (node, dir string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatalf(format+": the SDK conformance test must run in CI", args...)
		}
		t.Skipf(format+"; skipping the SDK conformance test outside CI", args...)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node not found (%v)", err)
	}
	dir, err = filepath.Abs("sdk")
	if err != nil {
		t.Fatal(err)
	}
	sdk := filepath.Join(dir, "node_modules", "twelvelabs-js", "package.json")
	if _, err := os.Stat(sdk); errors.Is(err, os.ErrNotExist) {
		missing("%s is missing (run `npm ci` in e2e/sdk)", sdk)
	} else if err != nil {
		t.Fatal(err)
	}
	return node, dir
}

// sdkEnv is the test's environment without the variables the SDK would
// read in place of the script's own (its key and base URL).
func sdkEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "TWELVE_LABS_API_KEY", "TWELVELABS_BASE_URL", "BASE_URL", "API_KEY", "RUN_ID":
			continue
		}
		env = append(env, kv)
	}
	return env
}
