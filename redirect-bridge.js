// The redirect URI page of MSAL v5 (redirect.html): hands the sign-in response back to the
// app window (redirect flow) or to the waiting main frame (silent iframe / popup flows).
// Kept in a file, not inline, so the Content-Security-Policy can forbid inline scripts.
msalRedirectBridge.broadcastResponseToMainFrame().catch(function (error) {
  var message = document.getElementById("message");
  if (message) {
    message.textContent = "Sign-in could not be completed: " + ((error && error.errorCode) || error);
  }
});
