// kz blind mode's Node preload: `kz run --blind` writes this file beside the run's CA files (0600) and
// adds `--require <it>` to NODE_OPTIONS. Node before 22.21 ignores the proxy variables, so without it
// fetch, https.request and everything built on them (got, node-fetch, the OpenAI, Vercel AI and
// LangChain SDKs) would connect directly and send their tokens to the real host, where they are inert.
//  - https: https.Agent's createConnection opens a CONNECT tunnel through HTTPS_PROXY (with its
//    credential) and starts TLS inside it; every https.Agent (the global one, keep-alive agents of
//    libraries) inherits it.
//  - fetch: on the first call, the built-in undici's default dispatcher is replaced by an Agent of the
//    same class whose connector is that tunnel. Lazy, so a process that never fetches pays nothing.
//  - A Node that honours NODE_USE_ENV_PROXY (22.21+, 24.5+) is left alone; only its
//    "[UNDICI-EHPA] EnvHttpProxyAgent is experimental" warning is dropped, other warnings still show.
//    There the preload costs well under a millisecond; on older Node, loading https costs ~5-10 ms.
// Plain http:// stays direct (the proxy swaps tokens only over TLS, or to loopback). Runs only in Node
// (Bun and Deno read NODE_OPTIONS-free); CommonJS and ES2020 so that Node 18 loads it. No dependency.
"use strict";
(function kzBlindNodePreload() {
  const proc = globalThis.process;
  if (!proc || !proc.versions || !proc.versions.node || proc.versions.bun || proc.versions.deno) return;
  const ONCE = Symbol.for("kz.blind.node-preload");
  if (globalThis[ONCE]) return; // an outer run's copy on the same NODE_OPTIONS
  globalThis[ONCE] = true;

  // 1. The one warning kz's own variables cause on Node 22.21+ (emitted when fetch first runs).
  const emitWarning = proc.emitWarning;
  proc.emitWarning = function (warning, type, code) {
    const theCode = type && typeof type === "object" ? type.code : code;
    const text = warning && typeof warning === "object" ? warning.message : String(warning);
    if (theCode === "UNDICI-EHPA" || /EnvHttpProxyAgent is experimental/.test(text)) return undefined;
    return emitWarning.apply(this, arguments);
  };

  const proxyUrl = proc.env.HTTPS_PROXY || proc.env.https_proxy;
  if (!proxyUrl) return;
  let proxy;
  try {
    proxy = new URL(proxyUrl);
  } catch (_) {
    return;
  }
  if (proxy.protocol !== "http:") return;
  const proxyHost = proxy.hostname.replace(/^\[|\]$/g, "");
  const proxyPort = Number(proxy.port) || 80;
  const authorization = proxy.username
    ? "Basic " + Buffer.from(decodeURIComponent(proxy.username) + ":" + decodeURIComponent(proxy.password)).toString("base64")
    : "";

  // A Node that routes http(s) and fetch through the proxy itself: decided from the version, so that it
  // pays nothing more (loading https costs a few ms); the globalAgent check catches backports.
  const [major, minor] = proc.versions.node.split(".").map(Number);
  const native = (major === 22 && minor >= 21) || (major === 24 && minor >= 5) || major >= 25;
  if (native && proc.env.NODE_USE_ENV_PROXY === "1") return;
  const https = require("https");
  const agentOptions = https.globalAgent && https.globalAgent.options;
  if (agentOptions && agentOptions.proxyEnv) return;
  const net = require("net");
  const tls = require("tls");

  /** Opens a CONNECT tunnel to host:port; callback(error) or callback(null, rawSocket). */
  function tunnel(host, port, callback) {
    const target = (net.isIPv6(host) ? "[" + host + "]" : host) + ":" + port;
    const socket = net.connect(proxyPort, proxyHost);
    let head = Buffer.alloc(0);
    let settled = false;
    const finish = (error) => {
      if (settled) return;
      settled = true;
      socket.removeListener("data", onData);
      socket.removeListener("error", finish);
      socket.removeListener("close", onClose);
      if (error) {
        socket.destroy();
        callback(error);
      } else callback(null, socket);
    };
    const onClose = () => finish(Object.assign(new Error("kz proxy closed the connection before answering CONNECT " + target), { code: "ECONNRESET" }));
    const onData = (chunk) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > 16384) finish(new Error("kz proxy: CONNECT answer too long"));
        return;
      }
      socket.pause(); // nothing may flow until TLS takes the socket over
      const statusLine = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      if (!/^HTTP\/1\.[01] 200/.test(statusLine)) {
        finish(Object.assign(new Error("kz proxy refused CONNECT " + target + ": " + statusLine), { code: "ECONNREFUSED" }));
        return;
      }
      if (end + 4 < head.length) socket.unshift(head.subarray(end + 4));
      finish(null);
    };
    socket.on("data", onData);
    socket.once("error", finish);
    socket.once("close", onClose);
    socket.once("connect", () => {
      socket.write(
        "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + (authorization ? "Proxy-Authorization: " + authorization + "\r\n" : "") + "\r\n",
      );
    });
  }

  /** TLS to host:port inside a tunnel; options are tls.connect's (servername, ALPN, ca, …). */
  function tunnelTls(host, port, options, callback) {
    tunnel(host, port, (error, raw) => {
      if (error) return callback(error);
      const tlsOptions = Object.assign({}, options, { socket: raw });
      delete tlsOptions.path;
      if (!tlsOptions.servername && !net.isIP(host)) tlsOptions.servername = host;
      let secure;
      try {
        secure = tls.connect(tlsOptions);
      } catch (e) {
        raw.destroy();
        return callback(e);
      }
      callback(null, secure);
    });
  }

  // 2. https.request and every https.Agent: the agent takes a socket from createConnection's callback.
  // An agent that brings its own socket (a proxy agent that already tunnelled, e.g. hpagent) keeps it.
  const ownConnection = https.Agent.prototype.createConnection;
  https.Agent.prototype.createConnection = function kzTunnelConnection(options, callback) {
    if (options && options.socket) return ownConnection.apply(this, arguments);
    const host = options.host || options.hostname || "localhost";
    const port = Number(options.port) || 443;
    tunnelTls(host, port, options, (error, socket) => {
      if (error) callback(error);
      else callback(null, socket);
    });
    return undefined;
  };

  // 3. fetch: swap the built-in undici's default dispatcher on first use (undici loads lazily).
  const nativeFetch = globalThis.fetch;
  if (typeof nativeFetch !== "function") return; // Node 16 and older
  const DISPATCHER = Symbol.for("undici.globalDispatcher.1");
  let installed = false;
  const install = () => {
    installed = true;
    void globalThis.Headers; // loads the built-in undici, which installs its default Agent
    const current = globalThis[DISPATCHER];
    if (!current || !current.constructor || current.constructor.name !== "Agent") return; // a proxy agent, or the program's own
    const Agent = current.constructor;
    globalThis[DISPATCHER] = new Agent({
      connect(opts, callback) {
        const port = Number(opts.port) || (opts.protocol === "https:" ? 443 : 80);
        const host = opts.hostname.replace(/^\[|\]$/g, "");
        if (opts.protocol !== "https:") {
          const socket = net.connect(port, host);
          let done = false;
          socket.once("connect", () => !done && ((done = true), callback(null, socket)));
          socket.once("error", (e) => !done && ((done = true), callback(e)));
          return;
        }
        tunnelTls(host, port, { servername: opts.servername || undefined, ALPNProtocols: ["http/1.1"] }, (error, socket) => {
          if (error) return callback(error);
          let done = false;
          socket.once("secureConnect", () => !done && ((done = true), callback(null, socket)));
          socket.once("error", (e) => !done && ((done = true), callback(e)));
        });
      },
    });
  };
  const fetch = function fetch(input, init) {
    if (!installed) install();
    return nativeFetch.call(this, input, init);
  };
  Object.defineProperty(globalThis, "fetch", { value: fetch, writable: true, configurable: true, enumerable: true });
})();
