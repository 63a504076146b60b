// Gatehouse passkeys: the one script the pages load (CSP `script-src 'self'`).
//
// A form marked `data-passkey="create"` or `"get"` carries the server's
// WebAuthn options (JSON, binary fields in base64url) in `data-options`.
// Submitting it runs the ceremony with the browser's authenticator, puts
// the answer (JSON, base64url again) in its `response` field, and submits
// it for the server to verify. Nothing here decides anything: the server
// checks every byte.
"use strict";

(function () {
  function fromB64url(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }

  function toB64url(buf) {
    if (!buf) return null;
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeIds(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = fromB64url(c.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: fromB64url(pk.user.id) });
    pk.excludeCredentials = decodeIds(pk.excludeCredentials);
    return { publicKey: pk };
  }

  function requestOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = fromB64url(pk.challenge);
    pk.allowCredentials = decodeIds(pk.allowCredentials);
    return { publicKey: pk };
  }

  function encode(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toB64url(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64url(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64url(r.authenticatorData);
      response.signature = toB64url(r.signature);
      response.userHandle = toB64url(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toB64url(cred.rawId),
      type: cred.type,
      response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function say(form, text) {
    var box = form.querySelector("[data-passkey-error]");
    if (box) {
      box.textContent = text;
      box.hidden = false;
    }
  }

  function explain(err) {
    if (err && err.name === "NotAllowedError") {
      return "The passkey request was cancelled or timed out. Try again.";
    }
    if (err && err.name === "InvalidStateError") {
      return "This authenticator already holds a passkey for this account.";
    }
    return "Your browser could not use a passkey here. Try again, or use another way to sign in.";
  }

  function attach(form) {
    var kind = form.getAttribute("data-passkey");
    var field = form.querySelector("input[name=response]");
    var button = form.querySelector("button[type=submit]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, "This browser cannot use passkeys.");
      if (button) button.disabled = true;
      return;
    }
    form.addEventListener("submit", function (event) {
      if (field.value) return;
      event.preventDefault();
      if (button) button.disabled = true;
      var options;
      try {
        options = JSON.parse(form.getAttribute("data-options"));
      } catch (e) {
        say(form, "This page is out of date. Reload it and try again.");
        return;
      }
      var ceremony =
        kind === "create"
          ? navigator.credentials.create(creationOptions(options))
          : navigator.credentials.get(requestOptions(options));
      ceremony.then(
        function (cred) {
          field.value = encode(cred);
          form.submit();
        },
        function (err) {
          if (button) button.disabled = false;
          say(form, explain(err));
        }
      );
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form[data-passkey]");
    for (var i = 0; i < forms.length; i++) attach(forms[i]);
  });
})();
