/** Input the control plane refuses: the caller gets the reason, nothing is written. */
export class InvalidInputError extends Error {
  override readonly name = "InvalidInputError";
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(field ? `${field}: ${message}` : message);
  }
}

/** A fact the control plane needs is missing in AWS (role deleted, instance gone…). */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}
