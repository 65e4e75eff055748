// The hosted sign-in's passkey buttons. Served by Tessera itself: the pages' CSP allows
// script files from here only, and no inline script, so this file reads what the page
// says from data attributes.
//
// A button with `data-webauthn-options` holds PublicKeyCredentialRequestOptions (WebAuthn's
// JSON form, binary fields in base64url). Clicking it asks the browser for an assertion,
// writes its JSON into the form's `webauthn_assertion` field and posts the form. Without
// WebAuthn in the browser the buttons stay hidden and the page works as before.
"use strict";

(function () {
  function fromBase64url(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(base64.padEnd(Math.ceil(base64.length / 4) * 4, "="));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  }

  function toBase64url(buffer) {
    let binary = "";
    new Uint8Array(buffer).forEach((byte) => {
      binary += String.fromCharCode(byte);
    });
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function requestOptions(json) {
    const options = JSON.parse(json);
    return {
      ...options,
      challenge: fromBase64url(options.challenge),
      allowCredentials: (options.allowCredentials || []).map((c) => ({
        ...c,
        id: fromBase64url(c.id),
      })),
    };
  }

  function assertionJson(credential) {
    const response = credential.response;
    return JSON.stringify({
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      response: {
        clientDataJSON: toBase64url(response.clientDataJSON),
        authenticatorData: toBase64url(response.authenticatorData),
        signature: toBase64url(response.signature),
        userHandle: response.userHandle ? toBase64url(response.userHandle) : null,
      },
      clientExtensionResults: credential.getClientExtensionResults(),
    });
  }

  document.querySelectorAll("button[data-webauthn-options]").forEach((button) => {
    if (!window.PublicKeyCredential || !navigator.credentials) {
      return;
    }
    const status = document.getElementById(button.dataset.status);
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        const credential = await navigator.credentials.get({
          publicKey: requestOptions(button.dataset.webauthnOptions),
        });
        button.form.elements.webauthn_assertion.value = assertionJson(credential);
        button.form.submit();
      } catch (error) {
        // Cancelled, timed out, or no passkey for this site: the page stays as it was.
        status.textContent = "No passkey was used (" + error.name + "). Try again or use another way.";
        button.disabled = false;
      }
    });
  });
})();
