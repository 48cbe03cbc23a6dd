/**
 * The catalogue's index: the codes of thrown classes (src/errors.ts) and of what the appliance
 * counts rather than throws, each map kept beside the vocabulary it codes (TFTP outcomes, media
 * drop verdicts and SRTP return codes, TLS proxy events). Where a thrown class already names
 * the failure, its code is reused, so one failure has one code whether it was thrown or
 * counted. docs/errors.md must list exactly these (test/errors/catalogue.test.ts).
 */
import { CAPF_EVENT_CODES } from './capf/event-codes';
import { ERROR_CODES, type ErrorCode } from './errors';
import { MEDIA_DROP_CODES, SRTP_ERROR_CODES } from './media/drop-codes';
import { TFTP_OUTCOME_CODES } from './tftp/outcome-codes';
import { TLS_EVENT_CODES } from './tls/event-codes';

export { CAPF_EVENT_CODES, MEDIA_DROP_CODES, SRTP_ERROR_CODES, TFTP_OUTCOME_CODES, TLS_EVENT_CODES };

type Codes<M> = Exclude<M[keyof M], null>;

/** A code of the catalogue: a thrown class's, or a counted condition's. */
export type CatalogueCode =
  | ErrorCode
  | Codes<typeof TFTP_OUTCOME_CODES>
  | Codes<typeof MEDIA_DROP_CODES>
  | Codes<typeof SRTP_ERROR_CODES>
  | Codes<typeof TLS_EVENT_CODES>
  | Codes<typeof CAPF_EVENT_CODES>;

/** Every code of the catalogue once: what docs/errors.md must list, no more and no less. */
export const CATALOGUE_CODES: readonly CatalogueCode[] = [
  ...new Set<CatalogueCode>([
    ...ERROR_CODES,
    ...[TFTP_OUTCOME_CODES, MEDIA_DROP_CODES, SRTP_ERROR_CODES, TLS_EVENT_CODES, CAPF_EVENT_CODES].flatMap((m) =>
      Object.values(m).filter((c): c is Exclude<typeof c, null> => c !== null),
    ),
  ]),
];
