// What the app keeps on the phone, in IndexedDB (one database, one key-value store):
// - "tokens": the access and refresh tokens (never in a cookie, so no CSRF; IndexedDB rather
//   than localStorage because the same store holds the key pair below and the service worker
//   could read it);
// - "phone-key": the ticket's ECDSA P-256 key pair, a CryptoKeyPair stored as it is (structured
//   clone): the private key stays non-extractable, its bytes are never readable;
// - "credential": the last credential the backend certified (for the virtual card), with the
//   server-clock offset, so the ticket works offline until it expires;
// - "cards": the last cards list seen, to show offline.
const DB = "rider-app";
const STORE = "kv";

let opened = null;

function open() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return opened;
}

async function run(mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(STORE, mode);
    const request = action(transaction.objectStore(STORE));
    transaction.oncomplete = () => resolve(request.result);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

export const get = (key) => run("readonly", (store) => store.get(key));
export const put = (key, value) => run("readwrite", (store) => store.put(value, key));
export const remove = (key) => run("readwrite", (store) => store.delete(key));
export const clear = () => run("readwrite", (store) => store.clear());
