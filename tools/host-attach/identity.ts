/**
 * How hosts recognise our LUNs: the standard INQUIRY vendor and product
 * identification (SPC-4 §6.6.2) the SCSI layer answers with. Every host
 * setting below is derived from these constants so they cannot drift apart.
 */
import { PRODUCT_ID, VENDOR_ID } from '../../src/scsi/constants.js';

/** SPC-4 §6.6.2: T10 VENDOR IDENTIFICATION is 8 bytes, PRODUCT IDENTIFICATION 16, both space padded. */
export const VENDOR_FIELD_LENGTH = 8;
export const PRODUCT_FIELD_LENGTH = 16;

export const VENDOR = VENDOR_ID;
export const PRODUCT = PRODUCT_ID;

/**
 * The hardware ID `mpclaim -d` expects: the vendor field padded to 8
 * characters followed by the product field padded to 16 (24 in all), exactly
 * as the device reports them.
 */
export function mpclaimHardwareId(vendor: string = VENDOR, product: string = PRODUCT): string {
  if (vendor.length > VENDOR_FIELD_LENGTH || product.length > PRODUCT_FIELD_LENGTH) {
    throw new Error(`INQUIRY identity '${vendor}'/'${product}' exceeds 8/16 characters (SPC-4 §6.6.2)`);
  }
  return vendor.padEnd(VENDOR_FIELD_LENGTH, ' ') + product.padEnd(PRODUCT_FIELD_LENGTH, ' ');
}

/** A literal for a POSIX extended regular expression (multipath.conf vendor/product are regexes). */
export function eregLiteral(text: string): string {
  return text.replace(/[.[\]()*+?{}|^$\\]/g, (c) => `\\${c}`);
}

/**
 * multipath.conf matches vendor and product as regular expressions against
 * the sysfs values with trailing blanks removed; anchoring both ends keeps
 * "VSTORAGE" from matching a longer vendor name.
 */
export function multipathVendorRegex(): string {
  return `^${eregLiteral(VENDOR)}$`;
}

export function multipathProductRegex(): string {
  return `^${eregLiteral(PRODUCT)}$`;
}

/** Whether a `multipath -ll` "VENDOR,PRODUCT" pair is one of ours. */
export function isOurDevice(vendor: string | undefined, product: string | undefined): boolean {
  return vendor?.trim() === VENDOR && product?.trim() === PRODUCT;
}
