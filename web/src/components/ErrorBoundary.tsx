/** A page that fails to render shows a message and a way back instead of a blank screen. */
import { Component, type ErrorInfo, type ReactNode } from "react";

interface State {
  failed: boolean;
}

export class ErrorBoundary extends Component<{ children: ReactNode }, State> {
  state: State = { failed: false };

  static getDerivedStateFromError(): State {
    return { failed: true };
  }

  componentDidCatch(error: Error, info: ErrorInfo): void {
    console.error("page failed to render", error, info.componentStack);
  }

  render() {
    if (!this.state.failed) return this.props.children;
    return (
      <div role="alert" className="alert">
        <strong>This page could not be shown.</strong>
        <p>
          Please reload it. If it keeps happening, <a href="/">start again from the home page</a>.
        </p>
      </div>
    );
  }
}
