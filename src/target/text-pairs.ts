/** Thin adapter over the login text codec, so FFP text handling shares it. */
export { decodeTextPairs, encodeTextPairs } from './login/text.js';
