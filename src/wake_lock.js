// Keeps a wall display's screen on with the Screen Wake Lock API where the browser has it.
// The lock is released by the browser whenever the page is hidden, so it is requested again
// each time the page becomes visible. Resolves to true when a lock is held.
let sentinel = null;

async function request() {
  if (!("wakeLock" in navigator) || document.visibilityState !== "visible") {
    return false;
  }
  try {
    sentinel = await navigator.wakeLock.request("screen");
    return true;
  } catch (e) {
    return false;
  }
}

export async function keepScreenAwake() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && (sentinel === null || sentinel.released)) {
      request();
    }
  });
  return request();
}
