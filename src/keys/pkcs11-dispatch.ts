import { readFileSync } from "node:fs";
import type { KeyVault, RootKeys } from "../core/ports.js";
import { DomainError } from "../errors.js";
import type { KeyAlgorithm } from "../x509/key-algorithms.js";
import type { Signer } from "../x509/signer.js";
import { pkcs11RootKeys } from "./pkcs11-root-keys.js";
import { openPkcs11Token } from "./pkcs11-token.js";
import { pkcs11KeyVault } from "./pkcs11-vault.js";
import { PKCS11_SCHEME } from "./pkcs11-uri.js";

/**
 * Root keys by the scheme of their reference, so that software and HSM roots live side by side
 * (a trust domain may rotate from one to the other): `pkcs11:` to the token, anything else
 * (`sealed:`) to the software custody. New keys go to the software custody unless the HSM is asked for.
 */
export function rootKeysByScheme(software: RootKeys, hsm: ReturnType<typeof pkcs11RootKeys> | undefined): RootKeys {
  return {
    generate: (alg) => software.generate(alg),
    importPkcs8: (pkcs8, alg) => software.importPkcs8(pkcs8, alg),
    signerFor(keyRef: string, alg: KeyAlgorithm): Promise<Signer> {
      if (!keyRef.toLowerCase().startsWith(PKCS11_SCHEME)) return software.signerFor(keyRef, alg);
      if (!hsm) {
        return Promise.reject(
          new DomainError("key_unavailable", `this root's key is in an HSM (${keyRef}) but no PKCS#11 token is configured: set MESHROOT_PKCS11_MODULE, MESHROOT_PKCS11_TOKEN and MESHROOT_PKCS11_PIN_FILE`),
        );
      }
      return hsm.signerFor(keyRef, alg);
    },
    hsm: hsm && { generate: (alg) => hsm.generate(alg), adopt: (uri, alg) => hsm.adopt(uri, alg) },
  };
}

/**
 * Opens the configured token (MESHROOT_PKCS11_*), reading the PIN file, for `serve` at start;
 * undefined when no HSM is configured. Throws `config_invalid` naming the setting to fix.
 */
export function openConfiguredHsm(
  settings: { module: string; token: string; pin: string | undefined; pinFile: string | undefined; masterKey?: boolean | undefined } | undefined,
): { rootKeys: ReturnType<typeof pkcs11RootKeys>; masterKeyInToken: boolean; keyVault(): Promise<KeyVault>; healthy(): boolean; close(): void } | undefined {
  if (!settings) return undefined;
  let pin = settings.pin;
  if (settings.pinFile !== undefined) {
    try {
      pin = readFileSync(settings.pinFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new DomainError("config_invalid", `MESHROOT_PKCS11_PIN_FILE ${settings.pinFile} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (pin === "") throw new DomainError("config_invalid", `MESHROOT_PKCS11_PIN_FILE ${settings.pinFile} is empty`);
  }
  const token = openPkcs11Token({
    module: settings.module,
    token: settings.token,
    pin: pin!,
    names: { module: "MESHROOT_PKCS11_MODULE", token: "MESHROOT_PKCS11_TOKEN", pin: settings.pinFile !== undefined ? `MESHROOT_PKCS11_PIN_FILE (${settings.pinFile})` : "MESHROOT_PKCS11_PIN" },
  });
  return {
    rootKeys: pkcs11RootKeys(token),
    masterKeyInToken: settings.masterKey === true,
    keyVault: () => pkcs11KeyVault(token),
    healthy: () => token.healthy(),
    close: () => token.close(),
  };
}
