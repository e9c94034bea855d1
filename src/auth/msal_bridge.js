// The MSAL.js bridge: the PublicClientApplication lives here, on the JS side; Rust only calls
// these functions (see src/auth/msal.rs). MSAL's UMD bundle is loaded on demand, so demo and
// token modes never download it. Errors are rethrown as plain objects
// {errorCode, errorMessage, interactionRequired} so Rust can branch on errorCode.

let pca = null;
let settings = null;

// The one script URL kbwatch ever sets: MSAL's bundle next to index.html.
const MSAL_BUNDLE = "msal-browser.min.js";
// Its Subresource Integrity, written here at build time by scripts/msal-integrity.mjs; until
// then the digest of 48 zero bytes, which matches no file (the bundle is refused).
const MSAL_BUNDLE_INTEGRITY = "sha384-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

// The Content-Security-Policy requires Trusted Types for script URLs and allows this policy
// (`trusted-types kbwatch-msal …`): it vouches for the bundle's own URL and refuses any other.
// Created on first use, once (a second policy of the same name would be refused).
let scriptUrlPolicy = null;
function msalBundleUrl(src) {
  const bundle = new URL(MSAL_BUNDLE, document.baseURI).href;
  if (!globalThis.trustedTypes) {
    if (src !== bundle) {
      throw new TypeError("kbwatch-msal: refused script URL " + src);
    }
    return src;
  }
  if (!scriptUrlPolicy) {
    scriptUrlPolicy = globalThis.trustedTypes.createPolicy("kbwatch-msal", {
      createScriptURL: (url) => {
        if (url !== bundle) {
          throw new TypeError("kbwatch-msal: refused script URL " + url);
        }
        return url;
      },
    });
  }
  return scriptUrlPolicy.createScriptURL(src);
}

function loadScript(src) {
  if (globalThis.msal) {
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    try {
      script.src = msalBundleUrl(src);
    } catch (e) {
      reject(plainError({ errorCode: "script_load_failed", errorMessage: String(e) }));
      return;
    }
    script.integrity = MSAL_BUNDLE_INTEGRITY;
    script.crossOrigin = "anonymous";
    script.onload = () => resolve();
    script.onerror = () => reject(plainError({ errorCode: "script_load_failed", errorMessage: "could not load " + src }));
    document.head.appendChild(script);
  });
}

function plainError(e) {
  const interactionRequired = !!(globalThis.msal && e instanceof globalThis.msal.InteractionRequiredAuthError);
  return {
    errorCode: (e && e.errorCode) || "unknown_error",
    errorMessage: (e && (e.errorMessage || e.message)) || String(e),
    interactionRequired,
  };
}

function accountLabel(account) {
  return account ? account.username || account.name || "" : null;
}

// Initialises MSAL and completes a redirect that brought us back. Resolves to the signed-in
// account's user name, or null when nobody is signed in.
export async function msalInit(settingsJson) {
  settings = JSON.parse(settingsJson);
  await loadScript(settings.scriptUrl);
  const msal = globalThis.msal;
  const auth = {
    clientId: settings.clientId,
    authority: settings.authority,
    redirectUri: settings.redirectUri,
    postLogoutRedirectUri: settings.postLogoutRedirectUri,
  };
  if (settings.knownAuthorities.length > 0) {
    auth.knownAuthorities = settings.knownAuthorities;
  }
  if (settings.authorityMetadata) {
    auth.authorityMetadata = settings.authorityMetadata;
  }
  try {
    pca = new msal.PublicClientApplication({
      auth,
      cache: { cacheLocation: settings.cacheLocation },
      system: {
        tokenRenewalOffsetSeconds: settings.tokenRenewalOffsetSeconds,
        loggerOptions: {
          piiLoggingEnabled: false,
          logLevel: msal.LogLevel.Warning,
          loggerCallback: (level, message, containsPii) => {
            if (!containsPii && level <= msal.LogLevel.Warning) {
              console.warn("[msal] " + message);
            }
          },
        },
      },
    });
    await pca.initialize();
    const result = await pca.handleRedirectPromise();
    // The sign-out return carries MSAL's `state` in the query: the app never uses it.
    const url = new URL(window.location.href);
    if (url.searchParams.has("state") && !url.searchParams.has("code")) {
      url.searchParams.delete("state");
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
    if (result && result.account) {
      pca.setActiveAccount(result.account);
    } else if (!pca.getActiveAccount()) {
      const accounts = pca.getAllAccounts();
      if (accounts.length > 0) {
        pca.setActiveAccount(accounts[0]);
      }
    }
    return accountLabel(pca.getActiveAccount());
  } catch (e) {
    throw plainError(e);
  }
}

export async function msalLogin() {
  try {
    await pca.loginRedirect({ scopes: settings.scopes });
  } catch (e) {
    throw plainError(e);
  }
}

// An access token for the API. `forceRefresh` skips the cache (after a 401). When the user
// must interact and `interactive` is true, navigates to the sign-in page instead.
export async function msalToken(forceRefresh, interactive) {
  const account = pca && pca.getActiveAccount();
  if (!account) {
    throw { errorCode: "no_account", errorMessage: "nobody is signed in", interactionRequired: true };
  }
  const request = { scopes: settings.scopes, account, forceRefresh };
  try {
    const result = await pca.acquireTokenSilent(request);
    return result.accessToken;
  } catch (e) {
    const error = plainError(e);
    if (error.interactionRequired && interactive) {
      await pca.acquireTokenRedirect({ scopes: settings.scopes, account });
    }
    throw error;
  }
}

export async function msalLogout() {
  try {
    await pca.logoutRedirect({ account: pca.getActiveAccount() });
  } catch (e) {
    throw plainError(e);
  }
}
