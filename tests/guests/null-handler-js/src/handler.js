// Bench guest: an event handler in JavaScript that does nothing with its batch, so a call
// measures what delivering events to a componentize-js component costs.

export const handler = {
    handle(_batch) {},
};
